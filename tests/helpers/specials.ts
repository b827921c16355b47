import { expect } from 'vitest';

/** IEEE values a diverging run produces, and finite neighbours of every sign and size. */
export const SPECIALS = [NaN, Infinity, -Infinity, 0, -0, 2, -3, 0.5, -0.25, 20, -20, 100, -100];

/**
 * Elementwise comparison that tells NaN and infinities apart: where `expected` is NaN the actual
 * value must be NaN, where it is ±Infinity the same infinity, elsewhere within atol + rtol·|e|.
 */
export function expectSameSpecials(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: { atol: number; rtol: number }, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const [a, e] = [actual[i], expected[i]];
    const ok = Number.isNaN(e) ? Number.isNaN(a) : Number.isFinite(e) ? Math.abs(a - e) <= tol.atol + tol.rtol * Math.abs(e) : a === e;
    if (!ok) expect.fail(`${what}: index ${i} is ${a}, expected ${e}`);
  }
}
