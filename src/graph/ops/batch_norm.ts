import { ShapeError } from '../../gpu/errors.js';
import { batchNormBackward, batchNormEvalForward, batchNormForward, batchNormShape, type BatchNormShape } from '../../kernels/batch_norm.js';
import { scaleSpec } from '../../kernels/elementwise.js';
import { singleLaunch, type ArgRef, type KernelProgram } from '../../kernels/kernel.js';
import { describeShape, type TensorType } from '../ir.js';
import { program } from '../lower.js';
import type { ScheduledOp } from '../passes/schedule.js';
import { inLayer } from './conv2d.js';
import type { OpAttrs } from './kinds.js';
import { expectArity, expectF32, expectSameShape, materialise, type OpRule } from './rule.js';

/** The op kinds this file defines, with their attributes (see OpAttrs in ./kinds.ts). */
export interface BatchNormOps {
  /**
   * Train mode over [N, C] or [N, C, H, W] with batch statistics. Inputs x, [gamma, beta when
   * affine], running_mean, running_var, [num_batches_tracked when countBatches]; outputs y, saved
   * mean, saved invstd = 1/√(var + eps). The running statistics (persistent storage) are updated in
   * place: r = (1 − momentum)·r + momentum·batch, with the unbiased batch variance for running_var,
   * as PyTorch; num_batches_tracked (one f32, exact up to 2^24) is incremented.
   */
  batch_norm: { eps: number; momentum: number; affine: boolean; countBatches: boolean };
  /** Eval mode: x, running_mean, running_var, [gamma, beta] → y, normalised with the running statistics. */
  batch_norm_eval: { eps: number; affine: boolean };
  /**
   * dy, x, a, b, [gamma] → dx, [dgamma, dbeta]. `training`: a, b are the saved mean and invstd of
   * batch_norm; otherwise the running mean and variance of batch_norm_eval (constants).
   */
  batch_norm_backward: { eps: number; affine: boolean; training: boolean };
}

const shapeOf = (where: string, x: TensorType) => inLayer(where, () => batchNormShape('batch_norm', x.shape));

function channels(where: string, s: BatchNormShape, named: readonly [string, TensorType][]): void {
  for (const [name, t] of named) {
    expectF32(where, name, t);
    if (t.shape.length !== 1 || t.shape[0] !== s.c) {
      throw new ShapeError(`${where}: ${name} ${describeShape(t.shape)} must be [${s.c}], one value per channel of the input`);
    }
  }
}

function checkEps(where: string, eps: number): void {
  if (!(eps >= 0)) throw new ShapeError(`${where}: eps ${eps} must be non-negative (PyTorch's default is 1e-5)`);
}

/**
 * Indices of the inputs a batch_norm program writes in place (running mean and variance, the batch
 * count). The plan requires them to be persistent storage given by the caller (a store's buffers).
 */
export function inPlaceInputs(step: ScheduledOp): number[] {
  if (step.op !== 'batch_norm') return [];
  const { affine, countBatches } = step.attrs;
  const first = affine ? 3 : 1;
  return countBatches ? [first, first + 1, first + 2] : [first, first + 1];
}

/**
 * The normalisation kernel, then, when counting batches, count + 1 into a scratch float and back:
 * two launches because one dispatch may not bind the same buffer both read-only and writable.
 */
function trainProgram(x: TensorType, attrs: OpAttrs['batch_norm'], inputs: number): KernelProgram {
  const spec = batchNormForward(batchNormShape('batch_norm', x.shape), { eps: attrs.eps, momentum: attrs.momentum, affine: attrs.affine, trackRunning: true });
  if (!attrs.countBatches) return singleLaunch(spec);
  const count = inputs - 1;
  const args: ArgRef[] = [...Array.from({ length: count }, (_, io) => ({ io })), ...[0, 1, 2].map((k) => ({ io: inputs + k }))];
  return {
    name: 'batch_norm',
    scratch: [4],
    launches: [
      { spec, args },
      { spec: scaleSpec(1, 1, 1), args: [{ io: count }, { scratch: 0 }] },
      { spec: scaleSpec(1, 1, 0), args: [{ scratch: 0 }, { io: count }] },
    ],
  };
}

export const batchNormRule: OpRule<'batch_norm'> = {
  infer(inputs, attrs, where) {
    const names = [...(attrs.affine ? ['gamma', 'beta'] : []), 'running_mean', 'running_var'];
    expectArity(where, inputs, names.length + (attrs.countBatches ? 2 : 1), ['x', ...names, ...(attrs.countBatches ? ['num_batches_tracked'] : [])].join(', '));
    expectF32(where, 'input', inputs[0]);
    const s = shapeOf(where, inputs[0]);
    channels(where, s, names.map((n, i) => [n, inputs[i + 1]] as const));
    if (attrs.countBatches) {
      const count = inputs[names.length + 1];
      expectF32(where, 'num_batches_tracked', count);
      if (count.shape.reduce((a, b) => a * b, 1) !== 1) throw new ShapeError(`${where}: num_batches_tracked ${describeShape(count.shape)} must hold one value (shape [])`);
    }
    checkEps(where, attrs.eps);
    if (!(attrs.momentum >= 0 && attrs.momentum <= 1)) throw new ShapeError(`${where}: momentum ${attrs.momentum} must lie in [0, 1] (PyTorch's default is 0.1)`);
    return [
      { shape: inputs[0].shape, dtype: 'f32' },
      { shape: [s.c], dtype: 'f32' },
      { shape: [s.c], dtype: 'f32' },
    ];
  },
  // With x̂ = (x − μ)·invstd and μ, σ² the batch statistics of each channel over M = N·H·W values:
  // dβ = Σ dy, dγ = Σ dy·x̂, dx = γ·invstd/M · (M·dy − dβ − x̂·dγ) (μ and σ² depend on x too).
  // The running statistics are state, not inputs of the loss: no gradient flows into them.
  grad(g, node, [up, upMean, upInvstd]) {
    if (upMean !== null || upInvstd !== null) {
      throw new ShapeError(`gradients: ${node.layer ? `${node.layer}: ` : ''}batch_norm's saved mean and invstd are not differentiable; detach them before using them in the loss`);
    }
    if (up === null) return node.inputs.map(() => null);
    const [x] = node.inputs;
    const [y, mean, invstd] = node.outputs;
    const { eps, affine } = node.attrs;
    const inputs = [materialise(g, up, y), x, mean, invstd];
    if (affine) inputs.push(node.inputs[1]);
    const [dx, dgamma, dbeta] = g.apply('batch_norm_backward', inputs, { eps, affine, training: true });
    const state = node.inputs.length - (affine ? 3 : 1);
    return [dx, ...(affine ? [dgamma, dbeta] : []), ...Array<null>(state).fill(null)];
  },
  lower: ({ inputs, attrs }) => program(trainProgram(inputs[0], attrs, inputs.length)),
};

export const batchNormEvalRule: OpRule<'batch_norm_eval'> = {
  infer(inputs, attrs, where) {
    expectArity(where, inputs, attrs.affine ? 5 : 3, attrs.affine ? 'x, running_mean, running_var, gamma, beta' : 'x, running_mean, running_var');
    expectF32(where, 'input', inputs[0]);
    const s = shapeOf(where, inputs[0]);
    const names = attrs.affine ? ['running_mean', 'running_var', 'gamma', 'beta'] : ['running_mean', 'running_var'];
    channels(where, s, names.map((n, i) => [n, inputs[i + 1]] as const));
    checkEps(where, attrs.eps);
    return [{ shape: inputs[0].shape, dtype: 'f32' }];
  },
  // y = (x − r_μ)·s·γ + β with s = 1/√(r_σ² + eps) constant: dx = dy·s·γ, dγ = Σ dy·x̂, dβ = Σ dy.
  grad(g, node, [up]) {
    if (up === null) return node.inputs.map(() => null);
    const [x, runningMean, runningVar] = node.inputs;
    const { eps, affine } = node.attrs;
    const inputs = [materialise(g, up, node.outputs[0]), x, runningMean, runningVar];
    if (affine) inputs.push(node.inputs[3]);
    const [dx, dgamma, dbeta] = g.apply('batch_norm_backward', inputs, { eps, affine, training: false });
    return affine ? [dx, null, null, dgamma, dbeta] : [dx, null, null];
  },
  lower: ({ inputs: [x], attrs }) => program(singleLaunch(batchNormEvalForward(batchNormShape('batch_norm_eval', x.shape), attrs.eps, attrs.affine))),
};

export const batchNormBackwardRule: OpRule<'batch_norm_backward'> = {
  infer(inputs, attrs, where) {
    const stats = attrs.training ? ['mean', 'invstd'] : ['running_mean', 'running_var'];
    expectArity(where, inputs, attrs.affine ? 5 : 4, ['dy', 'x', ...stats, ...(attrs.affine ? ['gamma'] : [])].join(', '));
    const [dy, x] = inputs;
    expectSameShape(where, dy, x, 'dy must have the shape of the batch_norm input');
    const s = shapeOf(where, x);
    const names = attrs.affine ? [...stats, 'gamma'] : stats;
    channels(where, s, names.map((n, i) => [n, inputs[i + 2]] as const));
    const out: TensorType[] = [{ shape: x.shape, dtype: 'f32' }];
    if (attrs.affine) out.push({ shape: [s.c], dtype: 'f32' }, { shape: [s.c], dtype: 'f32' });
    return out;
  },
  grad: 'nondiff',
  lower: ({ inputs: [, x], attrs }) => program(singleLaunch(batchNormBackward(batchNormShape('batch_norm_backward', x.shape), attrs.eps, attrs.affine, attrs.training))),
};
