import { ShapeError } from '../gpu/errors.js';
import { batchNormForward, batchNormShape, type BatchNormShape } from '../kernels/batch_norm.js';
import { launch, runOp, type Tensor } from './tensor.js';

/** Batch norm's optional affine parameters and epsilon. */
export interface BatchNormParams {
  /** Per-channel scale and shift [C]; both or neither (PyTorch's affine=True / False). */
  gamma?: Tensor;
  beta?: Tensor;
  /** Default 1e-5, as PyTorch. */
  eps?: number;
}

/** Options of the eager `batchNorm` (training mode: batch statistics). */
export interface BatchNormTrainOptions extends BatchNormParams {
  /** Running statistics [C], updated in place when given (both or neither). */
  runningMean?: Tensor;
  runningVar?: Tensor;
  /** running = (1 − momentum)·running + momentum·batch; default 0.1, as PyTorch. */
  momentum?: number;
}

/** Options of the eager `batchNormEval` (evaluation mode: the running statistics). */
export interface BatchNormEvalOptions extends BatchNormParams {
  runningMean: Tensor;
  runningVar: Tensor;
}

/** Gradients from `batchNormGrad` / `batchNormEvalGrad`. */
export interface BatchNormGrads {
  dx: Tensor;
  /** Present when gamma was given. */
  dgamma?: Tensor;
  dbeta?: Tensor;
}

function checkPair(op: string, a: string, b: string, ta: Tensor | undefined, tb: Tensor | undefined): void {
  if (!ta !== !tb) throw new ShapeError(`${op}: give both ${a} and ${b}, or neither`);
}

function check(op: string, x: Tensor, o: BatchNormParams & { runningMean?: Tensor; runningVar?: Tensor }): BatchNormShape {
  checkPair(op, 'gamma', 'beta', o.gamma, o.beta);
  checkPair(op, 'runningMean', 'runningVar', o.runningMean, o.runningVar);
  const s = batchNormShape(op, x.shape);
  for (const [name, t] of [['gamma', o.gamma], ['beta', o.beta]] as const) {
    if (t && (t.shape.length !== 1 || t.shape[0] !== s.c)) throw new ShapeError(`${op}: ${name} [${t.shape.join(', ')}] must be [${s.c}], one value per channel`);
  }
  return s;
}

const affineInputs = (o: BatchNormParams): Tensor[] => (o.gamma ? [o.gamma, o.beta!] : []);

/**
 * Train mode: normalises with the batch's per-channel mean and biased variance, returns them as
 * `mean` and `invstd` = 1/√(var + eps) for batchNormGrad, and updates the running statistics in place
 * (running_var with the unbiased variance, as PyTorch).
 */
export function batchNorm(x: Tensor, options: BatchNormTrainOptions = {}): { y: Tensor; mean: Tensor; invstd: Tensor } {
  const s = check('batch_norm', x, options);
  const eps = options.eps ?? 1e-5;
  const momentum = options.momentum ?? 0.1;
  const affine = !!options.gamma;
  if (options.runningMean) {
    const inputs = [x, ...affineInputs(options), options.runningMean, options.runningVar!];
    const [y, mean, invstd] = runOp('batch_norm', inputs, { eps, momentum, affine, countBatches: false });
    return { y, mean, invstd };
  }
  // Without running statistics there is no graph op: the same kernel, told not to track them.
  const spec = batchNormForward(s, { eps, momentum, affine, trackRunning: false });
  const [y, mean, invstd] = launch(spec, [x, ...affineInputs(options)], [{ shape: x.shape }, { shape: [s.c] }, { shape: [s.c] }]);
  return { y, mean, invstd };
}

/** Eval mode: y = (x − running_mean)/√(running_var + eps)·gamma + beta. */
export function batchNormEval(x: Tensor, options: BatchNormEvalOptions): Tensor {
  check('batch_norm_eval', x, options);
  const inputs = [x, options.runningMean, options.runningVar, ...affineInputs(options)];
  return runOp('batch_norm_eval', inputs, { eps: options.eps ?? 1e-5, affine: !!options.gamma })[0];
}

function grads(outputs: Tensor[]): BatchNormGrads {
  const [dx, dgamma, dbeta] = outputs;
  return dgamma ? { dx, dgamma, dbeta } : { dx };
}

/** Gradients of batchNorm (train mode), given its saved `mean` and `invstd`. */
export function batchNormGrad(
  dy: Tensor,
  x: Tensor,
  saved: { mean: Tensor; invstd: Tensor },
  options: Pick<BatchNormParams, 'gamma'> = {},
): BatchNormGrads {
  const inputs = [dy, x, saved.mean, saved.invstd, ...(options.gamma ? [options.gamma] : [])];
  return grads(runOp('batch_norm_backward', inputs, { eps: 0, affine: !!options.gamma, training: true }));
}

/** Gradients of batchNormEval (running statistics are constants). */
export function batchNormEvalGrad(dy: Tensor, x: Tensor, options: BatchNormEvalOptions): BatchNormGrads {
  check('batch_norm_eval_backward', x, options);
  const inputs = [dy, x, options.runningMean, options.runningVar, ...(options.gamma ? [options.gamma] : [])];
  return grads(runOp('batch_norm_backward', inputs, { eps: options.eps ?? 1e-5, affine: !!options.gamma, training: false }));
}
