/**
 * Magnitude pruning by a full ranking: every (tensor, index) pair sorted by |w|, ties by tensor
 * then index, and the first round(sparsity · n) pruned. Returns, per tensor, the pruned indices.
 */
export function prunedIndices(tensors: readonly ArrayLike<number>[], sparsity: number, scope: 'global' | 'per-layer'): number[][] {
  if (scope === 'per-layer') return tensors.map((t) => rankAndTake([t], sparsity)[0]);
  return rankAndTake(tensors, sparsity);
}

function rankAndTake(tensors: readonly ArrayLike<number>[], sparsity: number): number[][] {
  const all: { t: number; i: number; m: number }[] = [];
  tensors.forEach((w, t) => {
    for (let i = 0; i < w.length; i++) all.push({ t, i, m: Math.abs(w[i]) });
  });
  all.sort((a, b) => a.m - b.m || a.t - b.t || a.i - b.i);
  const k = Math.round(sparsity * all.length);
  const out = tensors.map(() => [] as number[]);
  for (const e of all.slice(0, k)) out[e.t].push(e.i);
  return out.map((l) => l.sort((a, b) => a - b));
}
