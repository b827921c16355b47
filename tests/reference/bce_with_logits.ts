import type { RefOp } from './ref_op.js';

/** Float64 mean binary cross-entropy of sigmoid(x) against targets t, from its definition. */
export function bceWithLogits(x: ArrayLike<number>, t: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < x.length; i++) {
    // -t log p - (1 - t) log(1 - p) with p = sigmoid(x); log p = -log(1 + e^-x), log(1 - p) = log p - x.
    const logP = x[i] >= 0 ? -Math.log1p(Math.exp(-x[i])) : x[i] - Math.log1p(Math.exp(x[i]));
    const log1mP = logP - x[i];
    total += -t[i] * logP - (1 - t[i]) * log1mP;
  }
  return total / x.length;
}

export const bceWithLogitsRef: RefOp<'bce_with_logits'> = ([x, t]) => [Float64Array.of(bceWithLogits(x, t))];
/** d bce / dx = (sigmoid(x) − t) / n. */
export const bceWithLogitsBackwardRef: RefOp<'bce_with_logits_backward'> = ([x, t]) => [x.map((v, i) => (1 / (1 + Math.exp(-v)) - t[i]) / x.length)];
