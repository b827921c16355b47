import { batchNormBackwardShader, batchNormEvalShader, batchNormTrainShader } from '../../shaders/batch_norm.js';
import { ShapeError } from '../gpu/errors.js';
import { dispatch1D } from './geometry.js';
import { UniformWriter, type BindingKind, type KernelSpec } from './kernel.js';

/** NCHW viewed as (N, C, HW); a [N, C] input has HW = 1. */
export interface BatchNormShape {
  n: number;
  c: number;
  hw: number;
}

/** Checks `shape` is [N, C] (BatchNorm1d) or [N, C, H, W] (BatchNorm2d). */
export function batchNormShape(op: string, shape: readonly number[]): BatchNormShape {
  if (shape.length === 2) return { n: shape[0], c: shape[1], hw: 1 };
  if (shape.length === 4) return { n: shape[0], c: shape[1], hw: shape[2] * shape[3] };
  throw new ShapeError(`${op}: input [${shape.join(', ')}] must be [N, C] or [N, C, H, W]; reshape [N, C, L] inputs to [N, C, L, 1]`);
}

/**
 * Lanes per channel workgroup: a power of two (the tree reduction halves it). 64 at most: on the
 * software adapter both pipeline compilation and every barrier cost time in proportion to the
 * workgroup size (measured: 0.26 s to compile at 64 lanes, 1.1 s at 256), and channels already
 * spread the work over workgroups.
 */
function channelWorkgroup(m: number): number {
  return m <= 32 ? 32 : 64;
}

function uniforms(s: BatchNormShape, eps: number, momentum = 0): ArrayBuffer {
  const m = s.n * s.hw;
  const varMomentum = m > 1 ? momentum : 0;
  const unbias = m > 1 ? m / (m - 1) : 0;
  return new UniformWriter().u32(s.n, s.c, s.hw, m).f32(eps, momentum, varMomentum, unbias).finish();
}

export interface BatchNormTrainConfig {
  eps: number;
  momentum: number;
  affine: boolean;
  trackRunning: boolean;
}

/**
 * Train-mode forward with batch statistics. Bindings: x, [gamma, beta], [running_mean, running_var]
 * (updated in place), y, mean, invstd. With M = N·H·W = 1 the batch variance is 0 (eps keeps invstd
 * finite) and the running variance is left unchanged, since its unbiased estimate is undefined.
 */
export function batchNormForward(s: BatchNormShape, cfg: BatchNormTrainConfig): KernelSpec {
  if (!(cfg.momentum >= 0 && cfg.momentum <= 1)) {
    throw new ShapeError(`batch_norm: momentum ${cfg.momentum} must lie in [0, 1] (PyTorch's default is 0.1)`);
  }
  if (!(cfg.eps >= 0)) throw new ShapeError(`batch_norm: eps ${cfg.eps} must be non-negative (default 1e-5)`);
  const bindings: BindingKind[] = ['read'];
  if (cfg.affine) bindings.push('read', 'read');
  if (cfg.trackRunning) bindings.push('write', 'write');
  bindings.push('write', 'write', 'write', 'uniform');
  return {
    name: 'batch_norm',
    code: batchNormTrainShader(cfg.affine, cfg.trackRunning),
    entryPoint: 'main',
    constants: { WG: channelWorkgroup(s.n * s.hw) },
    bindings,
    workgroups: dispatch1D(s.c, 1),
    uniforms: uniforms(s, cfg.eps, cfg.momentum),
  };
}

/** Eval-mode forward with running statistics. Bindings: x, running_mean, running_var, [gamma, beta], y. */
export function batchNormEvalForward(s: BatchNormShape, eps: number, affine: boolean): KernelSpec {
  const WG = 256;
  return {
    name: 'batch_norm_eval',
    code: batchNormEvalShader(affine),
    entryPoint: 'main',
    constants: { WG },
    bindings: affine ? ['read', 'read', 'read', 'read', 'read', 'write', 'uniform'] : ['read', 'read', 'read', 'write', 'uniform'],
    workgroups: dispatch1D(s.n * s.c * s.hw, WG),
    uniforms: uniforms(s, eps),
  };
}

/**
 * Gradients of either forward. `training`: bindings dy, x, mean, invstd (as saved by batchNormTrain);
 * eval: dy, x, running_mean, running_var. Then [gamma], dx, [dgamma, dbeta].
 */
export function batchNormBackward(s: BatchNormShape, eps: number, affine: boolean, training: boolean): KernelSpec {
  const bindings: BindingKind[] = ['read', 'read', 'read', 'read'];
  bindings.push(...(affine ? (['read', 'write', 'write', 'write'] as const) : (['write'] as const)), 'uniform');
  return {
    name: training ? 'batch_norm_backward' : 'batch_norm_eval_backward',
    code: batchNormBackwardShader(affine, training),
    entryPoint: 'main',
    constants: { WG: channelWorkgroup(s.n * s.hw) },
    bindings,
    workgroups: dispatch1D(s.c, 1),
    uniforms: uniforms(s, eps),
  };
}
