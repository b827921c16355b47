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
 * A kernel's uniform image with u32 and f32 views of the same bytes: made once per compiled step
 * and rewritten in place, so a training step allocates no uniform data.
 */
export class UniformImage {
  /** The image's words read as unsigned integers (counts, the step number). */
  readonly u32: Uint32Array<ArrayBuffer>;
  /** The same words read as floats (rates, coefficients). */
  readonly f32: Float32Array<ArrayBuffer>;

  /** @param bytes the image, a whole number of 16-byte rows, viewed in place (not copied) */
  constructor(readonly bytes: ArrayBuffer) {
    this.u32 = new Uint32Array(bytes);
    this.f32 = new Float32Array(bytes);
  }
}

/** Bytes of a uniform image of `words` 4-byte fields: whole 16-byte rows, as WGSL lays a struct out. */
function imageOf(words: number): UniformImage {
  return new UniformImage(new ArrayBuffer(Math.max(16, Math.ceil(words / 4) * 16)));
}

/** Checks SGD's settings, naming the bad one; `lr` alone may change later (see `checkLearningRate`). */
export function checkSgdConfig(c: SGDConfig): void {
  const momentum = c.momentum ?? 0;
  nonNegative('sgd', 'lr', c.lr);
  nonNegative('sgd', 'momentum', momentum);
  nonNegative('sgd', 'weightDecay', c.weightDecay ?? 0);
  if (c.nesterov && (momentum <= 0 || (c.dampening ?? 0) !== 0)) {
    throw new ShapeError('sgd: Nesterov momentum requires momentum > 0 and dampening = 0, as in torch.optim.SGD');
  }
}

/** A learning rate set between steps (by a schedule, say): checked when set, not at the next step. */
export function checkLearningRate(op: string, lr: number): void {
  nonNegative(op, 'lr', lr);
}

/**
 * The uniform image of an SGD step: what a compiled plan rewrites each step (t changes, and lr under
 * a schedule) without touching the pipeline. Layout: n, t, nesterov, lr, momentum, dampening, weight_decay.
 */
export function sgdUniforms(n: number, c: SGDConfig, t: number): ArrayBuffer {
  checkSgdConfig(c);
  const image = imageOf(7);
  image.u32[0] = n;
  image.u32[2] = c.nesterov ? 1 : 0;
  image.f32[4] = c.momentum ?? 0;
  image.f32[5] = c.dampening ?? 0;
  image.f32[6] = c.weightDecay ?? 0;
  writeSgdStep(image, c, t);
  return image.bytes;
}

/** Rewrites the words of an SGD image that change between steps: t and lr. Allocates nothing. */
export function writeSgdStep(image: UniformImage, c: SGDConfig, t: number): void {
  checkStep('sgd', t);
  image.u32[1] = t;
  image.f32[3] = c.lr;
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

/** Checks Adam's or AdamW's settings, naming the bad one; `lr` alone may change later. */
export function checkAdamConfig(c: AdamConfig, decoupled: boolean): void {
  const op = decoupled ? 'adamw' : 'adam';
  const { lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8 } = c;
  nonNegative(op, 'lr', lr);
  nonNegative(op, 'eps', eps);
  nonNegative(op, 'weightDecay', c.weightDecay ?? 0);
  for (const [name, b] of [['beta1', beta1], ['beta2', beta2]] as const) {
    if (!(b >= 0 && b < 1)) throw new ShapeError(`${op}: ${name} ${b} must lie in [0, 1)`);
  }
}

/**
 * The uniform image of an Adam (decoupled = false) or AdamW step t. Layout: n, t, lr, beta1, beta2,
 * eps, l2, decay, step_size, bc2_sqrt; the bias corrections come from t here, in float64.
 */
export function adamUniforms(n: number, c: AdamConfig, t: number, decoupled: boolean): ArrayBuffer {
  checkAdamConfig(c, decoupled);
  const image = imageOf(10);
  image.u32[0] = n;
  image.f32[3] = c.beta1 ?? 0.9;
  image.f32[4] = c.beta2 ?? 0.999;
  image.f32[5] = c.eps ?? 1e-8;
  image.f32[6] = decoupled ? 0 : (c.weightDecay ?? 0);
  writeAdamStep(image, c, t, decoupled);
  return image.bytes;
}

/**
 * Rewrites the words of an Adam or AdamW image that change between steps: t, lr, and what derives
 * from them (the decoupled decay lr·λ, the step size lr/(1−β1ᵗ), √(1−β2ᵗ)). Allocates nothing.
 */
export function writeAdamStep(image: UniformImage, c: AdamConfig, t: number, decoupled: boolean): void {
  checkStep(decoupled ? 'adamw' : 'adam', t);
  const lr = c.lr ?? 1e-3;
  const weightDecay = c.weightDecay ?? (decoupled ? 1e-2 : 0);
  image.u32[1] = t;
  image.f32[2] = lr;
  image.f32[7] = decoupled ? lr * weightDecay : 0;
  image.f32[8] = lr / (1 - (c.beta1 ?? 0.9) ** t);
  image.f32[9] = Math.sqrt(1 - (c.beta2 ?? 0.999) ** t);
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
