import { dropoutKeepRef } from './random.js';
import type { RefOp } from './ref_op.js';

/** y = x ⊙ keep / (1 − p), keep drawn from Philox(seed, stream = the run index); p = 1 gives zeros. */
function dropoutRef(x: Float64Array, p: number, seed: number, run: number): Float64Array {
  const keep = dropoutKeepRef(x.length, p, seed, run);
  return x.map((v, i) => (keep[i] && p < 1 ? v / (1 - p) : 0));
}

export const dropoutOpRef: RefOp<'dropout'> = ([x], { attrs: { p, seed } }, run) => [dropoutRef(x, p, seed, run)];
/** The backward applies the forward's mask to dy. */
export const dropoutBackwardRef: RefOp<'dropout_backward'> = ([dy], { attrs: { p, seed } }, run) => [dropoutRef(dy, p, seed, run)];
