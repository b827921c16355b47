import { pointwiseLossBackwardShader, pointwiseLossLoad, type PointwiseLoss } from '../../shaders/pointwise_loss.js';
import { dispatch1D } from './geometry.js';
import { UniformWriter, type KernelProgram, type KernelSpec } from './kernel.js';
import { appendSumAll, ProgramBuilder } from './reduce.js';

export type { PointwiseLoss };

const WG = 256;

/** Loss = mean over n elements of the term, summed in a fixed order (deterministic). io: pred, targets, loss [1]. */
export function pointwiseLossProgram(kind: PointwiseLoss, n: number): KernelProgram {
  const pb = new ProgramBuilder(kind);
  appendSumAll(pb, [{ io: 0 }, { io: 1 }], { io: 2 }, n, 1 / n, pointwiseLossLoad(kind));
  return pb.build();
}

/**
 * dx = l'(x, t) / n, times dy[0] when `upstream` (the gradient arriving at the loss).
 * io: pred, targets, then dy [1] when upstream, then dx.
 */
export function pointwiseLossBackward(kind: PointwiseLoss, n: number, upstream: boolean): KernelSpec {
  return {
    name: `${kind}_backward`,
    code: pointwiseLossBackwardShader(kind, upstream),
    entryPoint: 'main',
    constants: { WG },
    bindings: upstream ? ['read', 'read', 'read', 'write', 'uniform'] : ['read', 'read', 'write', 'uniform'],
    workgroups: dispatch1D(n, WG),
    uniforms: new UniformWriter().u32(n).f32(1 / n).finish(),
  };
}
