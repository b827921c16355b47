import type { RefOp } from './ref_op.js';

/** Float64 batch normalisation over NCHW, written from the definitions (per channel over N·H·W). */

export interface BNShape {
  n: number;
  c: number;
  hw: number;
}

const at = (s: BNShape, n: number, c: number, p: number) => (n * s.c + c) * s.hw + p;

/** Biased per-channel mean and variance. */
export function channelStats(x: ArrayLike<number>, s: BNShape): { mean: Float64Array; variance: Float64Array } {
  const m = s.n * s.hw;
  const mean = new Float64Array(s.c);
  const variance = new Float64Array(s.c);
  for (let c = 0; c < s.c; c++) {
    let sum = 0;
    for (let n = 0; n < s.n; n++) for (let p = 0; p < s.hw; p++) sum += x[at(s, n, c, p)];
    mean[c] = sum / m;
    let q = 0;
    for (let n = 0; n < s.n; n++) for (let p = 0; p < s.hw; p++) q += (x[at(s, n, c, p)] - mean[c]) ** 2;
    variance[c] = q / m;
  }
  return { mean, variance };
}

/** y = (x − mean[c]) / √(var[c] + eps) · gamma[c] + beta[c]; gamma = 1, beta = 0 when absent. */
export function normalize(
  x: ArrayLike<number>,
  s: BNShape,
  mean: ArrayLike<number>,
  variance: ArrayLike<number>,
  eps: number,
  gamma?: ArrayLike<number>,
  beta?: ArrayLike<number>,
): Float64Array {
  const y = new Float64Array(x.length);
  for (let n = 0; n < s.n; n++)
    for (let c = 0; c < s.c; c++)
      for (let p = 0; p < s.hw; p++) {
        const i = at(s, n, c, p);
        y[i] = ((x[i] - mean[c]) / Math.sqrt(variance[c] + eps)) * (gamma ? gamma[c] : 1) + (beta ? beta[c] : 0);
      }
  return y;
}

export function batchNormTrainRef(
  x: ArrayLike<number>,
  s: BNShape,
  eps: number,
  gamma?: ArrayLike<number>,
  beta?: ArrayLike<number>,
): Float64Array {
  const { mean, variance } = channelStats(x, s);
  return normalize(x, s, mean, variance, eps, gamma, beta);
}

/** PyTorch's running update: the unbiased variance (M/(M−1)); with M = 1 the variance is left as is. */
export function runningUpdateRef(
  x: ArrayLike<number>,
  s: BNShape,
  momentum: number,
  runningMean: ArrayLike<number>,
  runningVar: ArrayLike<number>,
): { mean: Float64Array; variance: Float64Array } {
  const m = s.n * s.hw;
  const { mean, variance } = channelStats(x, s);
  return {
    mean: Float64Array.from(runningMean, (r, c) => (1 - momentum) * r + momentum * mean[c]),
    variance: Float64Array.from(runningVar, (r, c) => (m > 1 ? (1 - momentum) * r + (momentum * variance[c] * m) / (m - 1) : r)),
  };
}

/**
 * Train-mode gradients by the closed form (x̂ = normalised x, dŷ = dy·gamma, M = N·H·W):
 * dx = invstd/M·(M·dŷ − Σdŷ − x̂·Σ dŷ·x̂), dgamma = Σ dy·x̂, dbeta = Σ dy.
 */
export function batchNormBackwardRef(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  s: BNShape,
  eps: number,
  gamma?: ArrayLike<number>,
): { dx: Float64Array; dgamma: Float64Array; dbeta: Float64Array } {
  const m = s.n * s.hw;
  const { mean, variance } = channelStats(x, s);
  const dx = new Float64Array(x.length);
  const dgamma = new Float64Array(s.c);
  const dbeta = new Float64Array(s.c);
  for (let c = 0; c < s.c; c++) {
    const invstd = 1 / Math.sqrt(variance[c] + eps);
    const g = gamma ? gamma[c] : 1;
    let sumDy = 0;
    let sumDyXhat = 0;
    for (let n = 0; n < s.n; n++)
      for (let p = 0; p < s.hw; p++) {
        const i = at(s, n, c, p);
        sumDy += dy[i];
        sumDyXhat += dy[i] * (x[i] - mean[c]) * invstd;
      }
    dgamma[c] = sumDyXhat;
    dbeta[c] = sumDy;
    for (let n = 0; n < s.n; n++)
      for (let p = 0; p < s.hw; p++) {
        const i = at(s, n, c, p);
        const xhat = (x[i] - mean[c]) * invstd;
        dx[i] = ((g * invstd) / m) * (m * dy[i] - sumDy - xhat * sumDyXhat);
      }
  }
  return { dx, dgamma, dbeta };
}

/** [N, C] or [N, C, H, W] as (N, C, H·W). */
function bnShape(shape: readonly number[]): BNShape {
  return { n: shape[0], c: shape[1], hw: shape.length === 4 ? shape[2] * shape[3] : 1 };
}

const channelOf = (s: BNShape, i: number) => Math.floor(i / s.hw) % s.c;

/**
 * Batch statistics per channel over M = N·H·W; the running statistics fed in are updated in place,
 * running_var with the unbiased variance; num_batches_tracked is incremented.
 */
export const batchNormOpRef: RefOp<'batch_norm'> = (x, { attrs: { eps, momentum, affine, countBatches }, inputs: [xV] }) => {
  const s = bnShape(xV.shape);
  const m = s.n * s.hw;
  const { mean, variance } = channelStats(x[0], s);
  const invstd = variance.map((v) => 1 / Math.sqrt(v + eps));
  const [gamma, beta] = affine ? [x[1], x[2]] : [undefined, undefined];
  const [rm, rv] = affine ? [x[3], x[4]] : [x[1], x[2]];
  const y = x[0].map((v, i) => {
    const c = channelOf(s, i);
    return (v - mean[c]) * invstd[c] * (gamma ? gamma[c] : 1) + (beta ? beta[c] : 0);
  });
  for (let c = 0; c < s.c; c++) {
    rm[c] = (1 - momentum) * rm[c] + momentum * mean[c];
    if (m > 1) rv[c] = (1 - momentum) * rv[c] + (momentum * variance[c] * m) / (m - 1);
  }
  if (countBatches) x[affine ? 5 : 3][0] += 1;
  return [y, mean, invstd];
};

export const batchNormEvalRef: RefOp<'batch_norm_eval'> = ([x, rm, rv, gamma, beta], { attrs: { eps, affine }, inputs: [xV] }) => {
  const s = bnShape(xV.shape);
  return [
    x.map((v, i) => {
      const c = channelOf(s, i);
      return ((v - rm[c]) / Math.sqrt(rv[c] + eps)) * (affine ? gamma[c] : 1) + (affine ? beta[c] : 0);
    }),
  ];
};

/**
 * x̂ = (x − μ)·invstd. Eval: μ, invstd are constants, dx = dy·γ·invstd. Training: μ and σ² depend
 * on x, dx = γ·invstd/M·(M·dy − Σdy − x̂·Σdy·x̂). Both: dγ = Σ dy·x̂, dβ = Σ dy.
 */
export const batchNormBackwardOpRef: RefOp<'batch_norm_backward'> = (x, { attrs: { eps, affine, training }, inputs }) => {
  const [dy, xs, mu, q] = x;
  const s = bnShape(inputs[1].shape);
  const m = s.n * s.hw;
  const invstd = training ? q : q.map((v) => 1 / Math.sqrt(v + eps));
  const gamma = (c: number) => (affine ? x[4][c] : 1);
  const xhat = (i: number) => (xs[i] - mu[channelOf(s, i)]) * invstd[channelOf(s, i)];
  const dgamma = new Float64Array(s.c);
  const dbeta = new Float64Array(s.c);
  dy.forEach((d, i) => {
    dgamma[channelOf(s, i)] += d * xhat(i);
    dbeta[channelOf(s, i)] += d;
  });
  const dx = dy.map((d, i) => {
    const c = channelOf(s, i);
    return training ? ((gamma(c) * invstd[c]) / m) * (m * d - dbeta[c] - xhat(i) * dgamma[c]) : d * gamma(c) * invstd[c];
  });
  return affine ? [dx, dgamma, dbeta] : [dx];
};
