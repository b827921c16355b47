import type { ActivationSpec } from '../../../shaders/lib/activations.js';
import type { Value } from '../ir.js';
import { useCounts, type Schedule, type ScheduledOp } from './schedule.js';

/**
 * Folds what follows a matmul or conv2d into its kernel:
 *  - forward epilogue: producer → bias_add (on the producer's channel axis) → activation becomes one
 *    fused op, when each intermediate is read only by the next op and not kept;
 *  - backward prologue (matmul): activation_backward(matmul(...), saved) becomes one matmul_fused
 *    computing (dY·Wᵀ) ⊙ f'(saved), so the pre-activation gradient never takes a separate kernel.
 * The fused op's output is the last op's output Value, so consumers are untouched. GELU is never
 * folded forward: its backward reads the activation's input, which fusion would not materialise.
 */
export function fuseEpilogues(schedule: Schedule, keep: ReadonlySet<Value>): ScheduledOp[] {
  const uses = useCounts(schedule);
  const single = (v: Value) => uses.get(v) === 1 && !keep.has(v);
  const consumerOf = new Map<Value, number>();
  schedule.forEach((s, i) => s.inputs.forEach((v) => consumerOf.set(v, i)));
  const next = (v: Value): [number, ScheduledOp] | undefined => {
    const k = single(v) ? consumerOf.get(v) : undefined;
    return k === undefined ? undefined : [k, schedule[k]];
  };

  const absorbed = new Set<number>();
  const replaced = new Map<number, ScheduledOp>();
  schedule.forEach((step, i) => {
    if ((step.op !== 'matmul' && step.op !== 'conv2d') || absorbed.has(i)) return;
    const inputs: Value[] = [...step.inputs];
    let out = step.outputs[0];
    let bias = false;
    let activation: ActivationSpec = { kind: 'none' };
    let prologue: ActivationSpec | null = null;
    const chain = [i];
    const channelAxis = step.op === 'matmul' ? out.shape.length - 1 : 1;

    const first = next(out);
    if (step.op === 'matmul' && first?.[1].op === 'activation_backward' && first[1].inputs[0] === out) {
      prologue = first[1].attrs.activation;
      inputs.push(first[1].inputs[1]);
      out = first[1].outputs[0];
      chain.push(first[0]);
    } else {
      const b = first?.[1];
      if (b?.op === 'bias_add' && b.inputs[0] === out && normalise(b.attrs.axis, out) === channelAxis) {
        bias = true;
        inputs.push(b.inputs[1]);
        out = b.outputs[0];
        chain.push(first![0]);
      }
      const [k, a] = next(out) ?? [];
      if (k !== undefined && a?.op === 'activation' && a.attrs.activation.kind !== 'gelu') {
        activation = a.attrs.activation;
        out = a.outputs[0];
        chain.push(k);
      }
    }
    if (chain.length === 1) return;
    for (const k of chain) absorbed.add(k);
    const fused: ScheduledOp =
      step.op === 'matmul'
        ? { op: 'matmul_fused', attrs: { ...step.attrs, bias, activation, prologue }, inputs, outputs: [out], layer: step.layer }
        : { op: 'conv2d_fused', attrs: { ...step.attrs, bias, activation }, inputs, outputs: [out], layer: step.layer };
    replaced.set(chain[chain.length - 1], fused);
  });

  const result: ScheduledOp[] = [];
  schedule.forEach((step, i) => {
    if (replaced.has(i)) result.push(replaced.get(i)!);
    else if (!absorbed.has(i)) result.push(step);
  });
  return result;
}

function normalise(axis: number, v: Value): number {
  return axis < 0 ? axis + v.shape.length : axis;
}
