import type { RefOp } from './ref_op.js';

/** Float64 reference reductions, written from the definitions. */

/** Sum of x (shape `shape`, row-major) along `axis`, returned flat with the axis removed. */
export function sumAxis(x: ArrayLike<number>, shape: readonly number[], axis: number): Float64Array {
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const len = shape[axis];
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const out = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++)
    for (let r = 0; r < len; r++)
      for (let i = 0; i < inner; i++) out[o * inner + i] += x[(o * len + r) * inner + i];
  return out;
}

export function meanAxis(x: ArrayLike<number>, shape: readonly number[], axis: number): Float64Array {
  return sumAxis(x, shape, axis).map((v) => v / shape[axis]);
}

/** Kahan-compensated float64 sum, so the reference itself is not the error source on long inputs. */
export function sumAll(x: ArrayLike<number>): number {
  let s = 0;
  let c = 0;
  for (let i = 0; i < x.length; i++) {
    const y = x[i] - c;
    const t = s + y;
    c = t - s - y;
    s = t;
  }
  return s;
}

export const sumRef: RefOp<'sum'> = ([x], { attrs, inputs: [xV] }) => [sumAxis(x, xV.shape, (attrs.axis + xV.shape.length) % xV.shape.length)];

/** A new axis of length `size` at `axis`, the data repeated along it. */
export const expandRef: RefOp<'expand'> = ([x], { attrs: { axis, size }, outputs: [out] }) => {
  const after = out.shape.slice(axis + 1).reduce((p, q) => p * q, 1);
  return [Float64Array.from({ length: out.size }, (_, i) => x[Math.floor(i / (after * size)) * after + (i % after)])];
};
