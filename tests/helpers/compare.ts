import { expect } from 'vitest';

/**
 * Asserts |actual - expected| <= atol + rtol * |expected| elementwise, reporting the worst index.
 * f32 kernels against float64 references: tolerances are stated per test, scaled to the reduction length.
 */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: { atol?: number; rtol?: number } = {},
  what = 'values',
): void {
  const atol = tol.atol ?? 1e-5;
  const rtol = tol.rtol ?? 1e-4;
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    if (!(excess <= 0) && (worst < 0 || excess > worstExcess || Number.isNaN(a))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    expect.fail(
      `${what}: index ${worst} is ${actual[worst]}, expected ${expected[worst]} (atol ${atol}, rtol ${rtol})`,
    );
  }
}

/**
 * Central-difference gradient of the scalar function `f` at `x`, in float64. Used to check every
 * backward kernel: with L = sum(dy * forward(x)) computed by the float64 reference, dL/dx must match
 * the kernel's dx.
 */
export function numericGradient(f: (x: Float64Array) => number, x: ArrayLike<number>, eps = 1e-6): Float64Array {
  const point = Float64Array.from(x);
  const grad = new Float64Array(point.length);
  for (let i = 0; i < point.length; i++) {
    const keep = point[i];
    point[i] = keep + eps;
    const up = f(point);
    point[i] = keep - eps;
    const down = f(point);
    point[i] = keep;
    grad[i] = (up - down) / (2 * eps);
  }
  return grad;
}

/** sum(a * b), for building scalar losses L = <dy, y> in gradient checks. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}
