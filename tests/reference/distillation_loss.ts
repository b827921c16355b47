import type { RefOp } from './ref_op.js';

/** log softmax(row / T) in float64, from its definition with the row maximum taken out first. */
function logSoftmax(row: ArrayLike<number>, temperature: number): Float64Array {
  const z = Float64Array.from(row, (v) => v / temperature);
  const m = Math.max(...z);
  let s = 0;
  for (const v of z) s += Math.exp(v - m);
  const logS = Math.log(s);
  return z.map((v) => v - m - logS);
}

/**
 * Float64 distillation loss of student logits s [B, C] against teacher logits t [B, C]:
 * T² · (1/B) · Σ_b KL(p_b ‖ q_b), p = softmax(t/T), q = softmax(s/T), KL = Σ p (log p − log q).
 */
export function distillationLoss(student: ArrayLike<number>, teacher: ArrayLike<number>, classes: number, temperature: number): number {
  const batch = student.length / classes;
  let total = 0;
  for (let b = 0; b < batch; b++) {
    const logQ = logSoftmax(Array.prototype.slice.call(student, b * classes, (b + 1) * classes), temperature);
    const logP = logSoftmax(Array.prototype.slice.call(teacher, b * classes, (b + 1) * classes), temperature);
    for (let j = 0; j < classes; j++) {
      const p = Math.exp(logP[j]);
      if (p > 0) total += p * (logP[j] - logQ[j]);
    }
  }
  return (temperature * temperature * total) / batch;
}

/** Float64 gradient of `distillationLoss` with respect to the student logits: T (q − p) / B. */
export function distillationLossGrad(student: ArrayLike<number>, teacher: ArrayLike<number>, classes: number, temperature: number): Float64Array {
  const batch = student.length / classes;
  const out = new Float64Array(student.length);
  for (let b = 0; b < batch; b++) {
    const logQ = logSoftmax(Array.prototype.slice.call(student, b * classes, (b + 1) * classes), temperature);
    const logP = logSoftmax(Array.prototype.slice.call(teacher, b * classes, (b + 1) * classes), temperature);
    for (let j = 0; j < classes; j++) out[b * classes + j] = (temperature * (Math.exp(logQ[j]) - Math.exp(logP[j]))) / batch;
  }
  return out;
}

/** Outputs: the loss and its gradient with respect to the student logits. */
export const distillationLossRef: RefOp<'distillation_loss'> = ([s, t], { attrs: { temperature }, inputs: [sV] }) => [
  Float64Array.of(distillationLoss(s, t, sV.shape[1], temperature)),
  distillationLossGrad(s, t, sV.shape[1], temperature),
];
