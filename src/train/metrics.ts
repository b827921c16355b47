import { WebGPUDLError } from '../gpu/errors.js';

/** confusion[t][p] counts samples of true class t predicted as p. */
export function confusionMatrix(labels: ArrayLike<number>, predictions: ArrayLike<number>, classes: number): number[][] {
  if (labels.length !== predictions.length) {
    throw new WebGPUDLError(`confusionMatrix: ${labels.length} labels but ${predictions.length} predictions`);
  }
  const m = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < labels.length; i++) {
    const t = labels[i];
    const p = predictions[i];
    if (t < 0 || t >= classes || p < 0 || p >= classes) {
      throw new WebGPUDLError(`confusionMatrix: class index out of range at sample ${i} (label ${t}, prediction ${p}, classes ${classes})`);
    }
    m[t][p]++;
  }
  return m;
}

/** One class's precision, recall and F1, and its support (samples with that label). */
export interface ClassReport {
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

/** Accuracy and per-class precision/recall/F1 from a confusion matrix (0 where undefined, as scikit-learn's zero_division=0). */
export function classificationReport(confusion: number[][]): { accuracy: number; perClass: ClassReport[]; macroF1: number } {
  const k = confusion.length;
  let total = 0;
  let correct = 0;
  const perClass: ClassReport[] = [];
  for (let c = 0; c < k; c++) {
    let predicted = 0;
    let actual = 0;
    for (let j = 0; j < k; j++) {
      predicted += confusion[j][c];
      actual += confusion[c][j];
      total += confusion[c][j];
    }
    const tp = confusion[c][c];
    correct += tp;
    const precision = predicted ? tp / predicted : 0;
    const recall = actual ? tp / actual : 0;
    const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
    perClass.push({ precision, recall, f1, support: actual });
  }
  return { accuracy: total ? correct / total : 0, perClass, macroF1: perClass.reduce((s, r) => s + r.f1, 0) / Math.max(1, k) };
}

/**
 * Area under the ROC curve for binary labels (0/1) and scores: the probability that a random
 * positive outscores a random negative, ties counting one half (Mann–Whitney U).
 */
export function rocAuc(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  if (labels.length !== scores.length) throw new WebGPUDLError(`rocAuc: ${labels.length} labels but ${scores.length} scores`);
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let positives = 0;
  let rankSum = 0;
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && scores[order[j + 1]] === scores[order[i]]) j++;
    const averageRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) {
      const label = labels[order[k]];
      if (label !== 0 && label !== 1) throw new WebGPUDLError(`rocAuc: labels must be 0 or 1, got ${label}`);
      if (label === 1) {
        positives++;
        rankSum += averageRank;
      }
    }
    i = j + 1;
  }
  const negatives = labels.length - positives;
  if (!positives || !negatives) throw new WebGPUDLError('rocAuc: needs at least one positive and one negative sample');
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** Index of the largest of each row of `values` [rows, cols]. */
export function argmaxRows(values: ArrayLike<number>, cols: number): Uint32Array {
  const rows = Math.floor(values.length / cols);
  const out = new Uint32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < cols; c++) if (values[r * cols + c] > values[r * cols + best]) best = c;
    out[r] = best;
  }
  return out;
}

/** Softmax of each row of `logits` [rows, cols], computed in float64 from the row's maximum. */
export function softmaxRows(logits: Float32Array, cols: number): Float32Array {
  const out = new Float32Array(logits.length);
  for (let r = 0; r * cols < logits.length; r++) {
    const row = logits.subarray(r * cols, (r + 1) * cols);
    let max = -Infinity;
    for (const v of row) max = Math.max(max, v);
    let z = 0;
    for (const v of row) z += Math.exp(v - max);
    for (let k = 0; k < cols; k++) out[r * cols + k] = Math.exp(row[k] - max) / z;
  }
  return out;
}
