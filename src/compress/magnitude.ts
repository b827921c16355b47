import { ShapeError } from '../gpu/errors.js';

/** How weights are ranked for pruning: all chosen tensors together ('global') or each on its own ('per-layer'). */
export type PruningScope = 'global' | 'per-layer';

/** The number of values pruned at `sparsity` out of `n`: the nearest count, halves rounded up. */
export function prunedCount(sparsity: number, n: number): number {
  return Math.round(sparsity * n);
}

/** Throws unless `sparsity` is a fraction in [0, 1). */
export function checkSparsity(op: string, sparsity: number): void {
  if (!(Number.isFinite(sparsity) && sparsity >= 0 && sparsity < 1)) {
    throw new ShapeError(`${op}: sparsity ${sparsity} is outside [0, 1); pass the fraction of weights to set to zero, e.g. 0.5 for half`);
  }
}

/**
 * Magnitude pruning on the CPU (it runs once per mask update, not per step): for each tensor, a
 * flag per value, 1 where the value is pruned. Exactly `prunedCount(sparsity, n)` values are pruned
 * per tensor ('per-layer') or over all tensors together ('global'), the smallest |w| first; among
 * equal magnitudes the earlier one (tensor order, then index) goes first, so the result does not
 * depend on the sort. NaN magnitudes are never pruned.
 */
export function magnitudeMasks(weights: readonly Float32Array[], sparsity: number, scope: PruningScope): Uint8Array[] {
  checkSparsity('prune', sparsity);
  if (scope === 'per-layer') return weights.map((w) => pruneSmallest([w], prunedCount(sparsity, w.length))[0]);
  return pruneSmallest(weights, prunedCount(sparsity, weights.reduce((a, w) => a + w.length, 0)));
}

/** Flags the k smallest magnitudes across `tensors` (taken in order, as one flat sequence). */
function pruneSmallest(tensors: readonly Float32Array[], k: number): Uint8Array[] {
  const masks = tensors.map((w) => new Uint8Array(w.length));
  if (k === 0) return masks;
  const total = tensors.reduce((a, w) => a + w.length, 0);
  const magnitudes = new Float32Array(total);
  let at = 0;
  for (const w of tensors) for (let i = 0; i < w.length; i++) magnitudes[at++] = Math.abs(w[i]);
  // A typed-array sort is numeric and native: far faster than sorting indices with a comparator.
  magnitudes.sort();
  const threshold = magnitudes[k - 1];
  let below = 0;
  while (below < k && magnitudes[below] < threshold) below++;
  // Every value below the threshold goes; of those equal to it, the first k − below in flat order.
  let ties = k - below;
  tensors.forEach((w, t) => {
    const m = masks[t];
    for (let i = 0; i < w.length; i++) {
      const a = Math.abs(w[i]);
      if (a < threshold) m[i] = 1;
      else if (a === threshold && ties > 0) {
        m[i] = 1;
        ties--;
      }
    }
  });
  return masks;
}
