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
