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
