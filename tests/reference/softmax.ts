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
