import type { RefOp } from './ref_op.js';
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

/** torch.argmax of one row: the first NaN if there is one, else the first maximum. */
export function predictedClass(row: ArrayLike<number>): number {
  let best = 0;
  for (let j = 0; j < row.length; j++) {
    if (Number.isNaN(row[j])) return j;
    if (row[j] > row[best]) best = j;
  }
  return best;
}

/** Kept rows whose prediction (torch.argmax) is the label. */
export function countCorrect(logits: ArrayLike<number>, labels: ArrayLike<number>, classes: number, ignoreIndex?: number): number {
  let hits = 0;
  for (let b = 0; b < labels.length; b++) {
    if (!kept(labels[b], classes, ignoreIndex)) continue;
    if (predictedClass(Array.from({ length: classes }, (_, j) => logits[b * classes + j])) === labels[b]) hits++;
  }
  return hits;
}

/**
 * d mean loss / d logits in float64: (softmax − onehot)/K on kept rows, and 0·(softmax − onehot)
 * on the others — which is NaN where the row's softmax is NaN, as PyTorch's log_softmax backward.
 */
export function crossEntropyGrad(logits: ArrayLike<number>, labels: ArrayLike<number>, classes: number, ignoreIndex?: number): Float64Array {
  let count = 0;
  for (let b = 0; b < labels.length; b++) if (kept(labels[b], classes, ignoreIndex)) count++;
  const grad = new Float64Array(labels.length * classes);
  for (let b = 0; b < labels.length; b++) {
    const base = b * classes;
    let m = -Infinity;
    for (let j = 0; j < classes; j++) m = Math.max(m, logits[base + j]);
    let s = 0;
    for (let j = 0; j < classes; j++) s += Math.exp(logits[base + j] - m);
    const scale = kept(labels[b], classes, ignoreIndex) ? 1 / count : 0;
    for (let j = 0; j < classes; j++) grad[base + j] = (Math.exp(logits[base + j] - m) / s - (j === labels[b] ? 1 : 0)) * scale;
  }
  return grad;
}

/** Rows whose label is >= classes and not the ignore index. */
export function countInvalid(labels: ArrayLike<number>, classes: number, ignoreIndex?: number): number {
  let bad = 0;
  for (let b = 0; b < labels.length; b++) if (labels[b] >= classes && labels[b] !== ignoreIndex) bad++;
  return bad;
}

/** Outputs: the mean loss, dLogits, the correct count and the invalid-label count. */
export const softmaxCrossEntropyRef: RefOp<'softmax_cross_entropy'> = ([logits, labels], { attrs: { ignoreIndex }, inputs: [lV] }) => {
  const C = lV.shape[1];
  return [
    Float64Array.of(crossEntropy(logits, labels, C, ignoreIndex)),
    crossEntropyGrad(logits, labels, C, ignoreIndex),
    Float64Array.of(countCorrect(logits, labels, C, ignoreIndex)),
    Float64Array.of(countInvalid(labels, C, ignoreIndex)),
  ];
};
