import { pointwiseLossBackwardShader } from './lib/pointwise_loss.js';
import type { ReduceLoad } from './reduce.js';

/**
 * log(1 + exp(-|x|)) without losing the small values: when exp(-|x|) is below f32 epsilon,
 * 1 + z rounds and log(1 + z) would be 0 or coarse; log(u) * z / (u - 1) cancels that rounding
 * (Goldberg's log1p), and z itself is exact when u == 1.
 */
const SOFTPLUS_NEG_ABS = /* wgsl */ `
fn softplus_neg_abs(v: f32) -> f32 {
  let z = exp(-abs(v));
  let u = 1.0 + z;
  return select(log(u) * z / (u - 1.0), z, u == 1.0);
}
`;

/**
 * The per-element loss, summed by the deterministic reduction:
 * l(x, t) = max(x, 0) - x t + log(1 + exp(-|x|)), equal to -t log s(x) - (1 - t) log(1 - s(x))
 * with no exp() of a large positive number.
 */
export const BCE_LOAD: ReduceLoad = {
  name: 'bce_with_logits',
  inputs: ['logits', 'targets'],
  helpers: SOFTPLUS_NEG_ABS,
  body: 'let v = logits[i];\n  return max(v, 0.0) - v * targets[i] + softplus_neg_abs(v);',
};

/** dx = (sigmoid(x) − t) · scale [· dy[0]]: d l / d x = s(x) − t; scale is 1/n for the mean. */
export function bceWithLogitsBackwardShader(upstream: boolean): string {
  // sigmoid from exp(-|x|) <= 1, so neither branch overflows.
  return pointwiseLossBackwardShader(
    upstream,
    `let v = pred[i];
  let e = exp(-abs(v));
  let s = select(e / (1.0 + e), 1.0 / (1.0 + e), v >= 0.0);
  return s - targets[i];`,
  );
}
