/** Float64 reference activations, written from their definitions (not from the WGSL). */

/** erf by its Taylor series (|x| < 3) or continued fraction tail; accurate to ~1e-12. */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    let term = ax;
    let sum = ax;
    for (let n = 1; n < 100; n++) {
      term *= (-ax * ax) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc continued fraction (Lentz), converges fast for |x| >= 3.
  let f = ax;
  for (let k = 60; k >= 1; k--) f = ax + k / 2 / f;
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

export type RefActivation = 'none' | 'relu' | 'leaky_relu' | 'sigmoid' | 'tanh' | 'gelu';

export function activate(kind: RefActivation, x: number, alpha = 0.01): number {
  switch (kind) {
    case 'none':
      return x;
    case 'relu':
      // NaN stays NaN, as PyTorch's relu.
      return Number.isNaN(x) ? x : x > 0 ? x : 0;
    case 'leaky_relu':
      return x > 0 ? x : alpha * x;
    case 'sigmoid':
      return 1 / (1 + Math.exp(-x));
    case 'tanh':
      return Math.tanh(x);
    case 'gelu':
      return 0.5 * x * (1 + erf(x / Math.SQRT2));
  }
}

export function activateAll(kind: RefActivation, x: ArrayLike<number>, alpha = 0.01): Float64Array {
  return Float64Array.from(x, (v) => activate(kind, v, alpha));
}

/**
 * f'(x) from the input, with PyTorch's choices where the derivative is not defined: relu' is 0 at
 * x <= 0 and 1 at NaN (its backward passes the gradient through a NaN output); leaky_relu' is the
 * slope at x <= 0 and at NaN; the others follow their formulas (NaN in, NaN out).
 */
export function activateGrad(kind: RefActivation, x: number, alpha = 0.01): number {
  switch (kind) {
    case 'none':
      return 1;
    case 'relu':
      return x <= 0 ? 0 : 1;
    case 'leaky_relu':
      return x > 0 ? 1 : alpha;
    case 'sigmoid': {
      const s = activate('sigmoid', x);
      return s * (1 - s);
    }
    case 'tanh':
      return 1 - Math.tanh(x) ** 2;
    case 'gelu':
      return 0.5 * (1 + erf(x / Math.SQRT2)) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI);
  }
}
