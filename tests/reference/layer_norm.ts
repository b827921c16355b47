import type { RefOp } from './ref_op.js';

/**
 * Float64 layer normalisation over the last axis of x viewed as [rows, cols], from torch.nn.LayerNorm's
 * definition: the biased variance of each row, y = (x − mean)/√(var + eps)·γ + β.
 */
export function layerNormRef(x: ArrayLike<number>, cols: number, eps: number, gamma: ArrayLike<number>, beta: ArrayLike<number>) {
  const rows = x.length / cols;
  const y = new Float64Array(x.length);
  const mean = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < cols; j++) s += x[r * cols + j];
    const m = s / cols;
    let v = 0;
    for (let j = 0; j < cols; j++) v += (x[r * cols + j] - m) ** 2;
    const inv = 1 / Math.sqrt(v / cols + eps);
    for (let j = 0; j < cols; j++) y[r * cols + j] = (x[r * cols + j] - m) * inv * gamma[j] + beta[j];
    mean[r] = m;
    rstd[r] = inv;
  }
  return { y, mean, rstd };
}

/**
 * Float64 gradients of L = Σ dy ⊙ layerNorm(x) by the chain rule through the row statistics:
 * with x̂ = (x − m)·s, s = (var + eps)^(−1/2), ∂var/∂x_i = 2(x_i − m)/D, ∂m/∂x_i = 1/D,
 * dx_i = s·g_i + Σ_j g_j·(x_j − m)·(−s³/2)·2(x_i − m)/D − s/D·Σ_j g_j  (g = dy ⊙ γ; the mean's
 * term through var vanishes since Σ_j (x_j − m) = 0).
 */
export function layerNormBackwardRef(dy: ArrayLike<number>, x: ArrayLike<number>, cols: number, eps: number, gamma: ArrayLike<number>) {
  const rows = x.length / cols;
  const { mean, rstd } = layerNormRef(x, cols, eps, gamma, new Float64Array(cols));
  const dx = new Float64Array(x.length);
  const dgamma = new Float64Array(cols);
  const dbeta = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const [m, s] = [mean[r], rstd[r]];
    let sumG = 0;
    let sumGC = 0;
    for (let j = 0; j < cols; j++) {
      const g = dy[r * cols + j] * gamma[j];
      sumG += g;
      sumGC += g * (x[r * cols + j] - m);
      dgamma[j] += dy[r * cols + j] * (x[r * cols + j] - m) * s;
      dbeta[j] += dy[r * cols + j];
    }
    for (let j = 0; j < cols; j++) {
      const c = x[r * cols + j] - m;
      dx[r * cols + j] = s * dy[r * cols + j] * gamma[j] - (s ** 3 * sumGC * c) / cols - (s * sumG) / cols;
    }
  }
  return { dx, dgamma, dbeta };
}

/**
 * The backward from the statistics the forward saved (mean, rstd per row), as the graph's
 * layer_norm_backward takes them: x̂ = (x − mean)·rstd, g = dy ⊙ γ, dx = rstd·(g − ḡ − x̂·mean(g ⊙ x̂)),
 * dγ = Σ_rows dy ⊙ x̂, dβ = Σ_rows dy. Checked against layerNormBackwardRef's chain-rule form.
 */
export function layerNormBackwardSavedRef(dy: ArrayLike<number>, x: ArrayLike<number>, mean: ArrayLike<number>, rstd: ArrayLike<number>, gamma: ArrayLike<number>) {
  const D = gamma.length;
  const dx = new Float64Array(dy.length);
  const [dgamma, dbeta] = [new Float64Array(D), new Float64Array(D)];
  for (let r = 0; r < mean.length; r++) {
    const xhat = (j: number) => (x[r * D + j] - mean[r]) * rstd[r];
    let [sg, sgx] = [0, 0];
    for (let j = 0; j < D; j++) {
      sg += dy[r * D + j] * gamma[j];
      sgx += dy[r * D + j] * gamma[j] * xhat(j);
      dgamma[j] += dy[r * D + j] * xhat(j);
      dbeta[j] += dy[r * D + j];
    }
    for (let j = 0; j < D; j++) dx[r * D + j] = rstd[r] * (dy[r * D + j] * gamma[j] - sg / D - (xhat(j) * sgx) / D);
  }
  return [dx, dgamma, dbeta];
}

export const layerNormOpRef: RefOp<'layer_norm'> = ([x, gamma, beta], { attrs: { eps }, inputs: [xV] }) => {
  const { y, mean, rstd } = layerNormRef(x, xV.shape.at(-1)!, eps, gamma, beta);
  return [y, mean, rstd];
};
export const layerNormBackwardOpRef: RefOp<'layer_norm_backward'> = ([dy, x, mean, rstd, gamma]) => layerNormBackwardSavedRef(dy, x, mean, rstd, gamma);
