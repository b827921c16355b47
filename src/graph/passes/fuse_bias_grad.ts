import type { Value } from '../ir.js';
import type { OpAttrs } from '../ops/kinds.js';
import { useCounts, type Schedule, type ScheduledOp } from './schedule.js';

/**
 * Folds a bias gradient into its weight gradient. Backward through a Linear layer computes
 * dW = dYᵀ·X (a matmul reading dY [batch, N] transposed) and db = Σ_batch dY (a sum over axis 0 of
 * dY, possibly behind reshapes). The matmul already reads every element of dY, so it can write the
 * row sums of dYᵀ as a second output: one launch instead of two.
 */
export function fuseBiasGradients(schedule: Schedule, keep: ReadonlySet<Value>): ScheduledOp[] {
  const uses = useCounts(schedule);
  const producer = new Map<Value, number>();
  schedule.forEach((s, i) => s.outputs.forEach((v) => producer.set(v, i)));
  const consumers = new Map<Value, number[]>();
  schedule.forEach((s, i) => s.inputs.forEach((v) => consumers.set(v, [...(consumers.get(v) ?? []), i])));

  const removed = new Set<number>();
  const replaced = new Map<number, ScheduledOp>();
  schedule.forEach((step, i) => {
    if (step.op !== 'sum' || step.attrs.axis !== 0 || step.inputs[0].shape.length !== 2) return;
    // Walk back through views that exist only to feed this sum.
    const chain: number[] = [];
    let root = step.inputs[0];
    while (producer.has(root) && schedule[producer.get(root)!].op === 'reshape' && uses.get(root) === 1 && !keep.has(root)) {
      chain.push(producer.get(root)!);
      root = schedule[producer.get(root)!].inputs[0];
    }
    if (root.shape.join() !== step.inputs[0].shape.join()) return;
    const db = step.outputs[0];
    const m = (consumers.get(root) ?? []).find((k) => {
      const s = replaced.get(k) ?? schedule[k];
      if ((s.op !== 'matmul' && s.op !== 'matmul_fused') || s.inputs[0] !== root || removed.has(k)) return false;
      return s.attrs.transA && !(s.op === 'matmul_fused' && s.attrs.rowSum) && s.inputs[1].shape.length === 2;
    });
    // The fused launch takes the matmul's place, so every reader of db must come after it.
    if (m === undefined || (consumers.get(db) ?? []).some((k) => k <= m)) return;
    const mm = replaced.get(m) ?? schedule[m];
    if (mm.op !== 'matmul' && mm.op !== 'matmul_fused') return;
    const attrs: OpAttrs['matmul_fused'] =
      mm.op === 'matmul_fused'
        ? { ...mm.attrs, rowSum: true }
        : { ...mm.attrs, bias: false, activation: { kind: 'none' }, prologue: null, rowSum: true };
    replaced.set(m, { op: 'matmul_fused', attrs, inputs: mm.inputs, outputs: [mm.outputs[0], db], layer: mm.layer });
    removed.add(i);
    for (const k of chain) removed.add(k);
  });
  return schedule.flatMap((s, i) => (removed.has(i) ? [] : [replaced.get(i) ?? s]));
}
