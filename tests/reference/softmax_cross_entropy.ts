/**
 * How a label counts in PyTorch's cross_entropy with reduction 'mean': rows labelled `ignoreIndex`
 * are left out; labels >= classes (which PyTorch rejects) are left out too and counted as invalid.
 */
function kept(label: number, classes: number, ignoreIndex?: number): boolean {
  return label < classes && label !== ignoreIndex;
}

/**
 * Float64 mean softmax cross-entropy of logits [B, C] against class indices, from its definition,
 * over the kept rows (NaN when none is kept: 0/0, as PyTorch).
 */
export function crossEntropy(logits: ArrayLike<number>, labels: ArrayLike<number>, classes: number, ignoreIndex?: number): number {
  let total = 0;
  let count = 0;
  for (let b = 0; b < labels.length; b++) {
    if (!kept(labels[b], classes, ignoreIndex)) continue;
    const base = b * classes;
    let m = -Infinity;
    for (let j = 0; j < classes; j++) m = Math.max(m, logits[base + j]);
    let s = 0;
    for (let j = 0; j < classes; j++) s += Math.exp(logits[base + j] - m);
    total += m + Math.log(s) - logits[base + labels[b]];
    count++;
  }
  return total / count;
}

/** Kept rows whose first maximum is at the label. */
export function countCorrect(logits: ArrayLike<number>, labels: ArrayLike<number>, classes: number, ignoreIndex?: number): number {
  let hits = 0;
  for (let b = 0; b < labels.length; b++) {
    if (!kept(labels[b], classes, ignoreIndex)) continue;
    let best = 0;
    for (let j = 1; j < classes; j++) if (logits[b * classes + j] > logits[b * classes + best]) best = j;
    if (best === labels[b]) hits++;
  }
  return hits;
}

/** Rows whose label is >= classes and not the ignore index. */
export function countInvalid(labels: ArrayLike<number>, classes: number, ignoreIndex?: number): number {
  let bad = 0;
  for (let b = 0; b < labels.length; b++) if (labels[b] >= classes && labels[b] !== ignoreIndex) bad++;
  return bad;
}
