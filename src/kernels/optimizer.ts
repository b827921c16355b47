import { adamShader, clipScaleShader, fillShader, finiteCheckShader, sgdShader, sumSquaresShader } from '../../shaders/optimizer.js';
import { ShapeError } from '../gpu/errors.js';
import { dispatch1D } from './geometry.js';
import { UniformWriter, type KernelProgram, type KernelSpec } from './kernel.js';

const WG = 256;

/** torch.optim.SGD's settings: learning rate, momentum, dampening, Nesterov and L2 weight decay (all but lr default to 0 / false). */
export interface SGDConfig {
  lr: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

/** torch.optim.Adam's and AdamW's settings. */
export interface AdamConfig {
  /** Defaults follow torch.optim.Adam / AdamW: lr 1e-3, betas (0.9, 0.999), eps 1e-8. */
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Adam: L2 added to the gradient (default 0). AdamW: decoupled decay (default 1e-2). */
  weightDecay?: number;
}

function checkStep(op: string, t: number): void {
  if (!Number.isInteger(t) || t < 1 || t > 0xffffffff) {
    throw new ShapeError(`${op}: step ${t} must be an integer ≥ 1 (the count of updates including this one)`);
  }
}

function nonNegative(op: string, what: string, v: number): void {
  if (!(v >= 0)) throw new ShapeError(`${op}: ${what} ${v} must be non-negative`);
}

/**
 * The uniform image of an SGD step: what a compiled plan rewrites each step (t changes, and lr under
 * a schedule) without touching the pipeline. Layout: n, t, nesterov, lr, momentum, dampening, weight_decay.
 */
export function sgdUniforms(n: number, c: SGDConfig, t: number): ArrayBuffer {
  const momentum = c.momentum ?? 0;
  const dampening = c.dampening ?? 0;
  checkStep('sgd', t);
  nonNegative('sgd', 'lr', c.lr);
  nonNegative('sgd', 'momentum', momentum);
  nonNegative('sgd', 'weightDecay', c.weightDecay ?? 0);
  if (c.nesterov && (momentum <= 0 || dampening !== 0)) {
    throw new ShapeError('sgd: Nesterov momentum requires momentum > 0 and dampening = 0, as in torch.optim.SGD');
  }
  return new UniformWriter()
    .u32(n, t, c.nesterov ? 1 : 0)
    .f32(c.lr, momentum, dampening, c.weightDecay ?? 0)
    .finish();
}

/**
 * One SGD step over n elements. Bindings: param, grad, [momentum_buffer] (when momentum > 0),
 * [health] (when `guarded`: the step's health record, see `finiteCheckKernel`).
 */
export function sgdKernel(n: number, c: SGDConfig, t: number, guarded = false): KernelSpec {
  const withMomentum = (c.momentum ?? 0) > 0;
  return {
    name: (withMomentum ? 'sgd_momentum' : 'sgd') + (guarded ? '_guarded' : ''),
    code: sgdShader(withMomentum, guarded),
    entryPoint: 'main',
    constants: { WG },
    bindings: ['write', 'read', ...(withMomentum ? ['write' as const] : []), ...(guarded ? ['write' as const] : []), 'uniform'],
    workgroups: dispatch1D(n, WG),
    uniforms: sgdUniforms(n, c, t),
  };
}

/**
 * The uniform image of an Adam (decoupled = false) or AdamW step t. Layout: n, t, lr, beta1, beta2,
 * eps, l2, decay, step_size, bc2_sqrt; the bias corrections come from t here, in float64.
 */
export function adamUniforms(n: number, c: AdamConfig, t: number, decoupled: boolean): ArrayBuffer {
  const op = decoupled ? 'adamw' : 'adam';
  const { lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8 } = c;
  const weightDecay = c.weightDecay ?? (decoupled ? 1e-2 : 0);
  checkStep(op, t);
  nonNegative(op, 'lr', lr);
  nonNegative(op, 'eps', eps);
  nonNegative(op, 'weightDecay', weightDecay);
  for (const [name, b] of [['beta1', beta1], ['beta2', beta2]] as const) {
    if (!(b >= 0 && b < 1)) throw new ShapeError(`${op}: ${name} ${b} must lie in [0, 1)`);
  }
  const bc1 = 1 - beta1 ** t;
  const bc2 = 1 - beta2 ** t;
  return new UniformWriter()
    .u32(n, t)
    .f32(lr, beta1, beta2, eps, decoupled ? 0 : weightDecay, decoupled ? lr * weightDecay : 0, lr / bc1, Math.sqrt(bc2))
    .finish();
}

/** One Adam (decoupled = false) or AdamW step over n elements. Bindings: param, grad, m, v, [health] (when `guarded`). */
export function adamKernel(n: number, c: AdamConfig, t: number, decoupled: boolean, guarded = false): KernelSpec {
  return {
    name: (decoupled ? 'adamw' : 'adam') + (guarded ? '_guarded' : ''),
    code: adamShader(guarded),
    entryPoint: 'main',
    constants: { WG },
    bindings: ['write', 'read', 'write', 'write', ...(guarded ? ['write' as const] : []), 'uniform'],
    workgroups: dispatch1D(n, WG),
    uniforms: adamUniforms(n, c, t, decoupled),
  };
}

/** out[0..n) = value. Binding: out. */
export function fillKernel(n: number, value: number): KernelSpec {
  return {
    name: 'fill',
    code: fillShader(),
    entryPoint: 'main',
    constants: { WG },
    bindings: ['write', 'uniform'],
    workgroups: dispatch1D(n, WG),
    uniforms: new UniformWriter().u32(n).f32(value).finish(),
  };
}

// Lanes of the norm reduction: small because the software adapter pays per lane at every barrier.
const REDUCE_WG = 64;
// Partial sums: enough workgroups to fill a GPU, few enough for one workgroup to finish them.
const MAX_PARTIALS = 256;

/**
 * Global-norm clipping over a flat gradient of n elements, as torch.nn.utils.clip_grad_norm_:
 * norm = ‖grad‖₂, then grad ← grad·min(1, maxNorm/(norm + 1e-6)), all on the GPU.
 * Buffers: io 0 = grad (scaled in place), io 1 = norm [1] (the norm before clipping).
 */
export function clipGradNormProgram(n: number, maxNorm: number): KernelProgram {
  nonNegative('clipGradNorm', 'maxNorm', maxNorm);
  const groups = Math.min(MAX_PARTIALS, Math.ceil(n / REDUCE_WG));
  const reduce = (stage: 'partial' | 'final', count: number, workgroups: number): KernelSpec => ({
    name: `grad_norm_${stage}`,
    code: sumSquaresShader(stage),
    entryPoint: 'main',
    constants: { WG: REDUCE_WG },
    bindings: ['read', 'write', 'uniform'],
    workgroups: [workgroups, 1, 1],
    uniforms: new UniformWriter().u32(count, groups).finish(),
  });
  const scale: KernelSpec = {
    name: 'grad_norm_clip',
    code: clipScaleShader(),
    entryPoint: 'main',
    constants: { WG },
    bindings: ['read', 'write', 'uniform'],
    workgroups: dispatch1D(n, WG),
    uniforms: new UniformWriter().u32(n).f32(maxNorm).finish(),
  };
  return {
    name: 'clip_grad_norm',
    scratch: [groups * 4],
    launches: [
      { spec: reduce('partial', n, groups), args: [{ io: 0 }, { scratch: 0 }] },
      { spec: reduce('final', groups, 1), args: [{ scratch: 0 }, { io: 1 }] },
      { spec: scale, args: [{ io: 1 }, { io: 0 }] },
    ],
  };
}

/** What a training step does when its loss or a gradient is not finite. */
export type NonFiniteMode = 'error' | 'skip';

/**
 * The uniform image of the finite check of run `step` (1-based): n, step, mode (0 'error': halt
 * all updates from this step on; 1 'skip': skip this step's update only).
 */
export function finiteCheckUniforms(n: number, step: number, mode: NonFiniteMode, into = new Uint32Array(4)): Uint32Array<ArrayBuffer> {
  into[0] = n;
  into[1] = step;
  into[2] = mode === 'error' ? 0 : 1;
  return into;
}

/**
 * Tests the loss and the n gradient elements for NaN/Inf, marking the step health record that a
 * guarded update reads next. Bindings: grad, loss [1], health, uniform.
 */
export function finiteCheckKernel(n: number, mode: NonFiniteMode): KernelSpec {
  if (n >= 0xfffffffe) throw new ShapeError(`finite check: ${n} gradient elements exceed the 32-bit codes of the health record`);
  if (n % 4 !== 0) throw new ShapeError(`finite check: ${n} gradient elements must be a multiple of 4 (it reads vec4s; parameter stores pad to 64)`);
  return {
    name: 'finite_check',
    code: finiteCheckShader(),
    entryPoint: 'main',
    constants: { WG },
    bindings: ['read', 'read', 'write', 'uniform'],
    workgroups: dispatch1D(n / 4, WG),
    uniforms: finiteCheckUniforms(n, 1, mode).buffer as ArrayBuffer,
  };
}
