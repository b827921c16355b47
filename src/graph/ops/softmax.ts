import { ShapeError } from '../../gpu/errors.js';
import { singleLaunch } from '../../kernels/kernel.js';
import { defaultRowVariant, softmaxBackward, softmaxForward, softmaxRows } from '../../kernels/softmax.js';
import { program } from '../lower.js';
import { expectArity, expectF32, expectSameShape, materialise, type OpRule } from './rule.js';

/** The op kinds this file defines, with their attributes (see OpAttrs in ./kinds.ts). */
export interface SoftmaxOps {
  /** Softmax along the last axis (torch.softmax(x, dim=-1)). */
  softmax: Record<string, never>;
  /** dy, y (the softmax output) → dx = y ⊙ (dy − Σ_row dy ⊙ y). */
  softmax_backward: Record<string, never>;
}

export const softmaxRule: OpRule<'softmax'> = {
  infer([x], _attrs, where) {
    expectF32(where, 'input', x);
    if (x.shape.length === 0) throw new ShapeError(`${where}: softmax needs at least one axis, got a scalar`);
    return [{ shape: x.shape, dtype: 'f32' }];
  },
  // The Jacobian-vector product needs only the output: dx = y ⊙ (dy − Σ dy ⊙ y) per row.
  grad(g, node, [up]) {
    if (up === null) return [null];
    return [g.apply('softmax_backward', [materialise(g, up, node.outputs[0]), node.outputs[0]], {})[0]];
  },
  lower: ({ inputs: [x] }, ctx) => {
    const [rows, cols] = softmaxRows('softmax', x.shape);
    return program(singleLaunch(softmaxForward(rows, cols, defaultRowVariant(cols, ctx.software))));
  },
};

export const softmaxBackwardRule: OpRule<'softmax_backward'> = {
  infer([dy, y], _attrs, where) {
    expectArity(where, [dy, y], 2, 'dy, y');
    expectSameShape(where, dy, y);
    return [{ shape: dy.shape, dtype: 'f32' }];
  },
  // No model the engine trains needs second derivatives of a softmax.
  grad: 'nondiff',
  lower: ({ inputs: [dy] }, ctx) => {
    const [rows, cols] = softmaxRows('softmax_backward', dy.shape);
    return program(singleLaunch(softmaxBackward(rows, cols, defaultRowVariant(cols, ctx.software))));
  },
};
