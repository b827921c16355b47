/**
 * Symmetric per-row int8 quantisation in float64: scale = max|row| / 127 (1 for a zero row),
 * q = w / scale rounded half away from zero. Rows are the first dimension, of `cols` values each.
 */
export function quantizeRows(w: ArrayLike<number>, rows: number): { q: number[]; scale: number[] } {
  const cols = w.length / rows;
  const q: number[] = [];
  const scale: number[] = [];
  for (let r = 0; r < rows; r++) {
    let max = 0;
    for (let c = 0; c < cols; c++) max = Math.max(max, Math.abs(w[r * cols + c]));
    const s = max === 0 ? 1 : max / 127;
    scale.push(s);
    for (let c = 0; c < cols; c++) {
      const x = w[r * cols + c] / s;
      const rounded = x < 0 ? -Math.round(-x) : Math.round(x); // Math.round takes halves up, so mirror negatives
      q.push(rounded === 0 ? 0 : rounded); // no −0: int8 has none
    }
  }
  return { q, scale };
}
