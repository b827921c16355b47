import { BCE_LOAD, bceWithLogitsBackwardShader } from '../../shaders/bce_with_logits.js';
import { ShapeError } from '../gpu/errors.js';
import { dispatch1D } from './geometry.js';
import { UniformWriter, type KernelProgram, type KernelSpec } from './kernel.js';
import { appendSumAll, ProgramBuilder } from './reduce.js';

const WG = 256;

/** Inputs and targets must have one shape; returns the element count. */
export function checkBceWithLogitsShapes(op: string, x: readonly number[], t: readonly number[]): number {
  if (x.length !== t.length || x.some((d, i) => d !== t[i])) {
    throw new ShapeError(`${op}: input [${x.join(', ')}] and targets [${t.join(', ')}] must have the same shape`);
  }
  return x.reduce((a, b) => a * b, 1);
}

/** Loss = mean over n elements of max(x, 0) - x t + log(1 + exp(-|x|)), summed in a fixed order (deterministic). io: logits, targets, loss [1]. */
export function bceWithLogitsProgram(n: number): KernelProgram {
  const pb = new ProgramBuilder('bce_with_logits');
  appendSumAll(pb, [{ io: 0 }, { io: 1 }], { io: 2 }, n, 1 / n, BCE_LOAD);
  return pb.build();
}

/**
 * dx = (sigmoid(x) - t) / n, times dy[0] when `upstream` (the gradient arriving at the loss).
 * io: logits, targets, then dy [1] when upstream, then dx.
 */
export function bceWithLogitsBackward(n: number, upstream: boolean): KernelSpec {
  return {
    name: 'bce_with_logits_backward',
    code: bceWithLogitsBackwardShader(upstream),
    entryPoint: 'main',
    constants: { WG },
    bindings: upstream ? ['read', 'read', 'read', 'write', 'uniform'] : ['read', 'read', 'write', 'uniform'],
    workgroups: dispatch1D(n, WG),
    uniforms: new UniformWriter().u32(n).f32(1 / n).finish(),
  };
}
