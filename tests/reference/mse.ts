/** Float64 mean squared error. */
export function mse(x: ArrayLike<number>, t: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < x.length; i++) total += (x[i] - t[i]) ** 2;
  return total / x.length;
}
