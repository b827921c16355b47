import { MSE_LOAD, mseBackwardShader } from '../../shaders/mse.js';
import { ShapeError } from '../gpu/errors.js';
import { dispatch1D } from './geometry.js';
import { UniformWriter, type KernelProgram, type KernelSpec } from './kernel.js';
import { appendSumAll, ProgramBuilder } from './reduce.js';

const WG = 256;

/** Inputs and targets must have one shape; returns the element count. */
export function checkMseShapes(op: string, x: readonly number[], t: readonly number[]): number {
  if (x.length !== t.length || x.some((d, i) => d !== t[i])) {
    throw new ShapeError(`${op}: input [${x.join(', ')}] and targets [${t.join(', ')}] must have the same shape`);
  }
  return x.reduce((a, b) => a * b, 1);
}

/** Loss = mean over n elements of (x - t)^2, summed in a fixed order (deterministic). io: pred, targets, loss [1]. */
export function mseProgram(n: number): KernelProgram {
  const pb = new ProgramBuilder('mse');
  appendSumAll(pb, [{ io: 0 }, { io: 1 }], { io: 2 }, n, 1 / n, MSE_LOAD);
  return pb.build();
}

/**
 * dx = 2 (x - t) / n, times dy[0] when `upstream` (the gradient arriving at the loss).
 * io: pred, targets, then dy [1] when upstream, then dx.
 */
export function mseBackward(n: number, upstream: boolean): KernelSpec {
  return {
    name: 'mse_backward',
    code: mseBackwardShader(upstream),
    entryPoint: 'main',
    constants: { WG },
    bindings: upstream ? ['read', 'read', 'read', 'write', 'uniform'] : ['read', 'read', 'write', 'uniform'],
    workgroups: dispatch1D(n, WG),
    uniforms: new UniformWriter().u32(n).f32(1 / n).finish(),
  };
}
