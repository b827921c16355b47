import type { RefOp } from './ref_op.js';

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

/** b [C] added along `axis` of x. */
export const biasAddRef: RefOp<'bias_add'> = ([x, b], { attrs, inputs: [xV] }) => {
  const axis = (attrs.axis + xV.shape.length) % xV.shape.length;
  const after = xV.shape.slice(axis + 1).reduce((p, q) => p * q, 1);
  return [x.map((v, i) => v + b[Math.floor(i / after) % xV.shape[axis]])];
};
export const addRef: RefOp<'add'> = ([a, b]) => [a.map((v, i) => v + b[i])];
export const subRef: RefOp<'sub'> = ([a, b]) => [a.map((v, i) => v - b[i])];
export const mulRef: RefOp<'mul'> = ([a, b]) => [a.map((v, i) => v * b[i])];
export const scaleRef: RefOp<'scale'> = ([x], { attrs: { scale, shift } }) => [x.map((v) => v * scale + shift)];
export const mulScalarRef: RefOp<'mul_scalar'> = ([x, s]) => [x.map((v) => v * s[0])];
/** The same values (a view in the kernels). */
export const reshapeRef: RefOp<'reshape'> = ([x]) => [Float64Array.from(x)];
/** The same values; its gradient is zero, which autodiff (not the value) expresses. */
export const stopGradientRef: RefOp<'stop_gradient'> = ([x]) => [Float64Array.from(x)];
