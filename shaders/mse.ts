import { pointwiseLossBackwardShader } from './lib/pointwise_loss.js';
import type { ReduceLoad } from './reduce.js';

/** The per-element squared error (x - t)^2, summed by the deterministic reduction. */
export const MSE_LOAD: ReduceLoad = {
  name: 'mse',
  inputs: ['pred', 'targets'],
  body: 'let d = pred[i] - targets[i];\n  return d * d;',
};

/** dx = 2 (x − t) · scale [· dy[0]]: d (x − t)² / dx = 2 (x − t); scale is 1/n for the mean. */
export function mseBackwardShader(upstream: boolean): string {
  return pointwiseLossBackwardShader(upstream, 'return 2.0 * (pred[i] - targets[i]);');
}
