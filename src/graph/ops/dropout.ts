import { ShapeError } from '../../gpu/errors.js';
import { dropoutBackward, dropoutForward, setDropoutStep, type DropoutConfig } from '../../kernels/dropout.js';
import { singleLaunch, type KernelSpec } from '../../kernels/kernel.js';
import { checkSeed } from '../../kernels/random.js';
import type { TensorType } from '../ir.js';
import { program, type Lowering } from '../lower.js';
import { inLayer } from './conv2d.js';
import type { OpAttrs } from './kinds.js';
import { expectF32, materialise, type OpRule } from './rule.js';

/** The op kinds this file defines, with their attributes (see OpAttrs in ./kinds.ts). */
export interface DropoutOps {
  /**
   * Train-mode dropout: y = x ⊙ mask / (1 − p). The mask is Philox(seed, stream = the step's run
   * index), so it changes every run and the backward regenerates it instead of storing it.
   */
  dropout: { p: number; seed: number };
  /** dy → dx = dy ⊙ mask / (1 − p) with the forward's mask. */
  dropout_backward: { p: number; seed: number };
}

function check(where: string, x: TensorType, attrs: OpAttrs['dropout']): TensorType[] {
  expectF32(where, 'input', x);
  if (!(attrs.p >= 0 && attrs.p <= 1)) throw new ShapeError(`${where}: drop probability p = ${attrs.p} must lie in [0, 1]`);
  inLayer(where, () => checkSeed('dropout', attrs.seed));
  return [{ shape: x.shape, dtype: 'f32' }];
}

/**
 * One launch whose Philox stream is the compiled step's run index, rewritten before every run:
 * a fresh mask each step with no recompilation, and forward and backward of one run share it.
 * The uniforms are made once and only their step word is rewritten, so a run allocates nothing
 * (the queue copies them when written, so one image serves every run).
 */
function lowerDropout(make: (n: number, c: DropoutConfig) => KernelSpec, n: number, attrs: OpAttrs['dropout']): Lowering {
  const spec = make(n, { ...attrs, step: 0 });
  const image = new Uint32Array(spec.uniforms!.slice(0));
  const uniforms = (run: number): ArrayBuffer => {
    setDropoutStep(image, run);
    return image.buffer;
  };
  return program(singleLaunch(spec), [{ launch: 0, uniforms }]);
}

export const dropoutRule: OpRule<'dropout'> = {
  infer: ([x], attrs, where) => check(where, x, attrs),
  // y = x ⊙ keep · scale is linear in x: dx = dy ⊙ keep · scale with the same mask.
  grad(g, node, [up]) {
    if (up === null) return [null];
    return [g.apply('dropout_backward', [materialise(g, up, node.outputs[0])], node.attrs)[0]];
  },
  lower: ({ inputs: [x], attrs }) => lowerDropout(dropoutForward, x.size, attrs),
};

export const dropoutBackwardRule: OpRule<'dropout_backward'> = {
  infer: ([dy], attrs, where) => check(where, dy, attrs),
  grad: 'nondiff',
  lower: ({ inputs: [dy], attrs }) => lowerDropout(dropoutBackward, dy.size, attrs),
};
