import type { Activation } from '../../shaders/lib/activations.js';
import type { RefOp } from './ref_op.js';

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

export type RefActivation = Activation;

interface RefActivationDef {
  f(x: number, alpha: number): number;
  /** f'(x) from the input x. */
  fromInput(x: number, alpha: number): number;
  /** f'(z) from what the forward pass saved (activationSaves: the output, or the input for GELU and negative slopes). */
  fromSaved(s: number, alpha: number): number;
}

/**
 * Every activation kind, from its definition; a kind added to ACTIVATIONS without an entry here
 * fails `tsc`. PyTorch's choices where the derivative is not defined: relu' is 0 at x <= 0 and 1 at
 * NaN (its backward passes the gradient through a NaN output); leaky_relu' is the slope at x <= 0
 * and at NaN; the others follow their formulas (NaN in, NaN out).
 */
const REF_ACTIVATIONS: { [K in Activation]: RefActivationDef } = {
  none: { f: (x) => x, fromInput: () => 1, fromSaved: () => 1 },
  // NaN stays NaN, as PyTorch's relu.
  relu: { f: (x) => (Number.isNaN(x) ? x : x > 0 ? x : 0), fromInput: (x) => (x <= 0 ? 0 : 1), fromSaved: (s) => (s <= 0 ? 0 : 1) },
  leaky_relu: { f: (x, a) => (x > 0 ? x : a * x), fromInput: (x, a) => (x > 0 ? 1 : a), fromSaved: (s, a) => (s > 0 ? 1 : a) },
  sigmoid: {
    f: (x) => 1 / (1 + Math.exp(-x)),
    fromInput: (x) => REF_ACTIVATIONS.sigmoid.fromSaved(REF_ACTIVATIONS.sigmoid.f(x, 0), 0),
    fromSaved: (s) => s * (1 - s),
  },
  tanh: { f: (x) => Math.tanh(x), fromInput: (x) => 1 - Math.tanh(x) ** 2, fromSaved: (s) => 1 - s * s },
  gelu: { f: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)), fromInput: geluGrad, fromSaved: geluGrad },
};

function geluGrad(x: number): number {
  return 0.5 * (1 + erf(x / Math.SQRT2)) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI);
}

export function activate(kind: RefActivation, x: number, alpha = 0.01): number {
  return REF_ACTIVATIONS[kind].f(x, alpha);
}

export function activateAll(kind: RefActivation, x: ArrayLike<number>, alpha = 0.01): Float64Array {
  return Float64Array.from(x, (v) => activate(kind, v, alpha));
}

/** f'(x) from the input x. */
export function activateGrad(kind: RefActivation, x: number, alpha = 0.01): number {
  return REF_ACTIVATIONS[kind].fromInput(x, alpha);
}

/** f'(z) from what the forward pass saved for it (see activationSaves). */
export function activateGradSaved(kind: RefActivation, s: number, alpha = 0.01): number {
  return REF_ACTIVATIONS[kind].fromSaved(s, alpha);
}

export const activationRef: RefOp<'activation'> = ([x], { attrs: { activation: a } }) => [activateAll(a.kind, x, a.alpha)];

/** dx = dy ⊙ f'(saved). */
export const activationBackwardRef: RefOp<'activation_backward'> = ([dy, saved], { attrs: { activation: a } }) => [
  dy.map((d, i) => d * activateGradSaved(a.kind, saved[i], a.alpha)),
];
