import type { RefOp } from './ref_op.js';

/** Float64 softmax along the last axis of x viewed as [rows, cols], from its definition. */
export function softmax(x: ArrayLike<number>, cols: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let base = 0; base < x.length; base += cols) {
    let m = -Infinity;
    for (let j = 0; j < cols; j++) m = Math.max(m, x[base + j]);
    let s = 0;
    for (let j = 0; j < cols; j++) s += Math.exp(x[base + j] - m);
    for (let j = 0; j < cols; j++) out[base + j] = Math.exp(x[base + j] - m) / s;
  }
  return out;
}

export const softmaxRef: RefOp<'softmax'> = ([x], { inputs: [xV] }) => [softmax(x, xV.shape.at(-1)!)];

/** dx_i = y_i (dy_i − Σ_j dy_j y_j), the softmax Jacobian applied to dy. */
export const softmaxBackwardRef: RefOp<'softmax_backward'> = ([dy, y], { inputs: [dyV] }) => {
  const C = dyV.shape.at(-1)!;
  const dx = new Float64Array(dy.length);
  for (let r = 0; r < dy.length / C; r++) {
    let dot = 0;
    for (let c = 0; c < C; c++) dot += dy[r * C + c] * y[r * C + c];
    for (let c = 0; c < C; c++) dx[r * C + c] = y[r * C + c] * (dy[r * C + c] - dot);
  }
  return [dx];
};
