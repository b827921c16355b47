/** Float64 mean softmax cross-entropy of logits [B, C] against class indices, from its definition. */
export function crossEntropy(logits: ArrayLike<number>, labels: ArrayLike<number>, classes: number): number {
  const batch = labels.length;
  let total = 0;
  for (let b = 0; b < batch; b++) {
    const base = b * classes;
    let m = -Infinity;
    for (let j = 0; j < classes; j++) m = Math.max(m, logits[base + j]);
    let s = 0;
    for (let j = 0; j < classes; j++) s += Math.exp(logits[base + j] - m);
    // A label outside [0, C) marks an ignored row: it adds nothing but still counts in the mean.
    if (labels[b] < classes) total += m + Math.log(s) - logits[base + labels[b]];
  }
  return total / batch;
}

/** Rows whose first maximum is at the label. */
export function countCorrect(logits: ArrayLike<number>, labels: ArrayLike<number>, classes: number): number {
  let hits = 0;
  for (let b = 0; b < labels.length; b++) {
    let best = 0;
    for (let j = 1; j < classes; j++) if (logits[b * classes + j] > logits[b * classes + best]) best = j;
    if (best === labels[b]) hits++;
  }
  return hits;
}
