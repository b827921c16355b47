import { ShapeError } from '../gpu/errors.js';
import { batchNormBackward, batchNormEvalForward, batchNormForward, batchNormShape, type BatchNormShape } from '../kernels/batch_norm.js';
import { launch, type Tensor } from './tensor.js';

export interface BatchNormParams {
  /** Per-channel scale and shift [C]; both or neither (PyTorch's affine=True / False). */
  gamma?: Tensor;
  beta?: Tensor;
  /** Default 1e-5, as PyTorch. */
  eps?: number;
}

export interface BatchNormTrainOptions extends BatchNormParams {
  /** Running statistics [C], updated in place when given (both or neither). */
  runningMean?: Tensor;
  runningVar?: Tensor;
  /** running = (1 − momentum)·running + momentum·batch; default 0.1, as PyTorch. */
  momentum?: number;
}

export interface BatchNormEvalOptions extends BatchNormParams {
  runningMean: Tensor;
  runningVar: Tensor;
}

export interface BatchNormGrads {
  dx: Tensor;
  /** Present when gamma was given. */
  dgamma?: Tensor;
  dbeta?: Tensor;
}

function channelTensor(op: string, name: string, t: Tensor | undefined, s: BatchNormShape): void {
  if (t && (t.shape.length !== 1 || t.shape[0] !== s.c)) {
    throw new ShapeError(`${op}: ${name} [${t.shape.join(', ')}] must be [${s.c}], one value per channel`);
  }
}

function checkPair(op: string, a: string, b: string, ta: Tensor | undefined, tb: Tensor | undefined): void {
  if (!ta !== !tb) throw new ShapeError(`${op}: give both ${a} and ${b}, or neither`);
}

function check(op: string, x: Tensor, o: BatchNormParams & { runningMean?: Tensor; runningVar?: Tensor }): BatchNormShape {
  const s = batchNormShape(op, x.shape);
  checkPair(op, 'gamma', 'beta', o.gamma, o.beta);
  checkPair(op, 'runningMean', 'runningVar', o.runningMean, o.runningVar);
  for (const [name, t] of [['gamma', o.gamma], ['beta', o.beta], ['runningMean', o.runningMean], ['runningVar', o.runningVar]] as const) {
    channelTensor(op, name, t, s);
  }
  return s;
}

function sameShape(op: string, a: Tensor, b: Tensor): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new ShapeError(`${op}: dy [${a.shape.join(', ')}] and x [${b.shape.join(', ')}] must have the same shape`);
  }
}

/**
 * Train mode: normalises with the batch's per-channel mean and biased variance, returns them as
 * `mean` and `invstd` = 1/√(var + eps) for batchNormGrad, and updates the running statistics in place
 * (running_var with the unbiased variance, as PyTorch).
 */
export function batchNorm(x: Tensor, options: BatchNormTrainOptions = {}): { y: Tensor; mean: Tensor; invstd: Tensor } {
  const s = check('batch_norm', x, options);
  const affine = !!options.gamma;
  const trackRunning = !!options.runningMean;
  const spec = batchNormForward(s, { eps: options.eps ?? 1e-5, momentum: options.momentum ?? 0.1, affine, trackRunning });
  const inputs = [x];
  if (affine) inputs.push(options.gamma!, options.beta!);
  if (trackRunning) inputs.push(options.runningMean!, options.runningVar!);
  const [y, mean, invstd] = launch(spec, inputs, [{ shape: x.shape }, { shape: [s.c] }, { shape: [s.c] }]);
  return { y, mean, invstd };
}

/** Eval mode: y = (x − running_mean)/√(running_var + eps)·gamma + beta. */
export function batchNormEval(x: Tensor, options: BatchNormEvalOptions): Tensor {
  const s = check('batch_norm_eval', x, options);
  const affine = !!options.gamma;
  const inputs = [x, options.runningMean, options.runningVar];
  if (affine) inputs.push(options.gamma!, options.beta!);
  return launch(batchNormEvalForward(s, options.eps ?? 1e-5, affine), inputs, [{ shape: x.shape }])[0];
}

/** Gradients of batchNorm (train mode), given its saved `mean` and `invstd`. */
export function batchNormGrad(
  dy: Tensor,
  x: Tensor,
  saved: { mean: Tensor; invstd: Tensor },
  options: Pick<BatchNormParams, 'gamma'> = {},
): BatchNormGrads {
  const op = 'batch_norm_backward';
  const s = batchNormShape(op, x.shape);
  sameShape(op, dy, x);
  for (const [name, t] of [['gamma', options.gamma], ['mean', saved.mean], ['invstd', saved.invstd]] as const) {
    channelTensor(op, name, t, s);
  }
  return grads(batchNormBackward(s, 0, !!options.gamma, true), dy, x, saved.mean, saved.invstd, options.gamma, s);
}

/** Gradients of batchNormEval (running statistics are constants). */
export function batchNormEvalGrad(dy: Tensor, x: Tensor, options: BatchNormEvalOptions): BatchNormGrads {
  const s = check('batch_norm_eval_backward', x, options);
  sameShape('batch_norm_eval_backward', dy, x);
  const spec = batchNormBackward(s, options.eps ?? 1e-5, !!options.gamma, false);
  return grads(spec, dy, x, options.runningMean, options.runningVar, options.gamma, s);
}

function grads(
  spec: ReturnType<typeof batchNormBackward>,
  dy: Tensor,
  x: Tensor,
  a: Tensor,
  b: Tensor,
  gamma: Tensor | undefined,
  s: BatchNormShape,
): BatchNormGrads {
  if (!gamma) return { dx: launch(spec, [dy, x, a, b], [{ shape: x.shape }])[0] };
  const [dx, dgamma, dbeta] = launch(spec, [dy, x, a, b, gamma], [{ shape: x.shape }, { shape: [s.c] }, { shape: [s.c] }]);
  return { dx, dgamma, dbeta };
}
