import { ShapeError } from '../gpu/errors.js';
import { adamKernel, clipGradNormProgram, fillKernel, sgdKernel, type AdamConfig, type SGDConfig } from '../kernels/optimizer.js';
import { launch, zeros, type Tensor } from './tensor.js';

/**
 * Eager optimizer steps. Each updates `param` and its state tensors IN PLACE with one dispatch and
 * returns nothing; `grad` is only read. Tensors may be whole flat parameter buffers (many model
 * tensors packed at offsets): the kernels see a flat length. `step` is t, counting from 1.
 */

export interface SGDState {
  /** Present when momentum > 0; zeros before the first step. */
  momentumBuffer?: Tensor;
}

/** Adam's per-parameter state for `adamStep`/`adamwStep`, made by `createAdamState`. */
export interface AdamState {
  /** First and second moment estimates, zeros before the first step. */
  m: Tensor;
  v: Tensor;
}

function sameSize(op: string, name: string, param: Tensor, t: Tensor): void {
  if (t.size !== param.size || t.dtype !== 'f32') {
    throw new ShapeError(`${op}: ${name} ${t} must be f32 with as many elements as param ${param} (${param.size})`);
  }
}

/** Zeroed SGD state for `param`: a momentum buffer when `config.momentum` > 0, else none. */
export function createSGDState(param: Tensor, config: SGDConfig): SGDState {
  return (config.momentum ?? 0) > 0 ? { momentumBuffer: zeros(param.engine, param.shape) } : {};
}

/** Zeroed Adam moments shaped like `param`. */
export function createAdamState(param: Tensor): AdamState {
  return { m: zeros(param.engine, param.shape), v: zeros(param.engine, param.shape) };
}

/** torch.optim.SGD's update for step t (momentum, dampening, nesterov, weight decay). */
export function sgdStep(param: Tensor, grad: Tensor, state: SGDState, config: SGDConfig, step: number): void {
  sameSize('sgd', 'grad', param, grad);
  const spec = sgdKernel(param.size, config, step);
  if ((config.momentum ?? 0) > 0) {
    if (!state.momentumBuffer) throw new ShapeError('sgd: momentum > 0 needs state.momentumBuffer; make it with createSGDState');
    sameSize('sgd', 'momentumBuffer', param, state.momentumBuffer);
    param.engine.dispatch(spec, [param.buffer, grad.buffer, state.momentumBuffer.buffer]);
  } else {
    param.engine.dispatch(spec, [param.buffer, grad.buffer]);
  }
}

function adamLike(decoupled: boolean, param: Tensor, grad: Tensor, state: AdamState, config: AdamConfig, step: number): void {
  const op = decoupled ? 'adamw' : 'adam';
  sameSize(op, 'grad', param, grad);
  sameSize(op, 'm', param, state.m);
  sameSize(op, 'v', param, state.v);
  const spec = adamKernel(param.size, config, step, decoupled);
  param.engine.dispatch(spec, [param.buffer, grad.buffer, state.m.buffer, state.v.buffer]);
}

/** torch.optim.Adam's update for step t; weightDecay adds λθ to the gradient (L2). */
export function adamStep(param: Tensor, grad: Tensor, state: AdamState, config: AdamConfig, step: number): void {
  adamLike(false, param, grad, state, config, step);
}

/** torch.optim.AdamW's update for step t; weightDecay (default 1e-2) shrinks θ by lr·λ directly. */
export function adamwStep(param: Tensor, grad: Tensor, state: AdamState, config: AdamConfig, step: number): void {
  adamLike(true, param, grad, state, config, step);
}

/** Sets every element of `grad` to 0, in launch order with the other eager work. */
export function zeroGrad(grad: Tensor): void {
  if (grad.dtype !== 'f32') throw new ShapeError(`zeroGrad: expects an f32 tensor, got ${grad}`);
  grad.engine.dispatch(fillKernel(grad.size, 0), [grad.buffer]);
}

/**
 * Scales `grad` in place so its global L2 norm is at most maxNorm (torch.nn.utils.clip_grad_norm_),
 * and returns the norm before clipping as a [1] tensor; nothing is read back.
 */
export function clipGradNorm(grad: Tensor, maxNorm: number): Tensor {
  if (grad.dtype !== 'f32') throw new ShapeError(`clipGradNorm: expects an f32 tensor, got ${grad}`);
  return launch(clipGradNormProgram(grad.size, maxNorm), [grad], [{ shape: [1] }])[0];
}
