import type { RefOp } from './ref_op.js';

/** Float64 mean squared error. */
export function mse(x: ArrayLike<number>, t: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < x.length; i++) total += (x[i] - t[i]) ** 2;
  return total / x.length;
}

export const mseRef: RefOp<'mse'> = ([x, t]) => [Float64Array.of(mse(x, t))];
/** d mse / dx = 2 (x − t) / n. */
export const mseBackwardRef: RefOp<'mse_backward'> = ([x, t]) => [x.map((v, i) => (2 * (v - t[i])) / x.length)];
