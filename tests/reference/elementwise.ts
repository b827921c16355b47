/** Float64 broadcasting binary ops, by explicit multi-index arithmetic (NumPy rules, or b aligned at `axis`). */
export function broadcastBinary(
  op: 'add' | 'sub' | 'mul',
  a: ArrayLike<number>,
  aShape: readonly number[],
  b: ArrayLike<number>,
  bShape: readonly number[],
  axis?: number,
): Float64Array {
  const offset = axis ?? aShape.length - bShape.length;
  const out = new Float64Array(a.length);
  const index = new Array<number>(aShape.length).fill(0);
  for (let i = 0; i < a.length; i++) {
    let rest = i;
    for (let d = aShape.length - 1; d >= 0; d--) {
      index[d] = rest % aShape[d];
      rest = Math.floor(rest / aShape[d]);
    }
    let bi = 0;
    for (let k = 0; k < bShape.length; k++) bi = bi * bShape[k] + (bShape[k] === 1 ? 0 : index[offset + k]);
    const x = a[i];
    const y = b[bi];
    out[i] = op === 'add' ? x + y : op === 'sub' ? x - y : x * y;
  }
  return out;
}
