import type { ActivationSpec } from '../../../shaders/lib/activations.js';
import type { Value } from '../ir.js';
import type { OpAttrs } from '../ops/kinds.js';
import { useCounts, type Schedule, type ScheduledOp } from './schedule.js';

/**
 * Folds what follows a matmul into its kernel:
 *  - forward epilogue: matmul → bias_add(last axis) → activation becomes one matmul_fused, when each
 *    intermediate is read only by the next op and not kept;
 *  - backward prologue: activation_backward(matmul(...), saved) becomes one matmul_fused computing
 *    (dY·Wᵀ) ⊙ f'(saved), so the pre-activation gradient never takes a separate kernel.
 * The fused node's output is the last op's output Value, so consumers are untouched.
 */
export function fuseMatmul(schedule: Schedule, keep: ReadonlySet<Value>): ScheduledOp[] {
  const uses = useCounts(schedule);
  const single = (v: Value) => uses.get(v) === 1 && !keep.has(v);
  const consumerOf = new Map<Value, number>();
  schedule.forEach((s, i) => s.inputs.forEach((v) => consumerOf.set(v, i)));

  const absorbed = new Set<number>();
  const replaced = new Map<number, ScheduledOp>();
  schedule.forEach((step, i) => {
    if (step.op !== 'matmul' || absorbed.has(i)) return;
    const { transA, transB } = step.attrs as OpAttrs['matmul'];
    const inputs: Value[] = [...step.inputs];
    let out = step.outputs[0];
    let bias = false;
    let activation: ActivationSpec = { kind: 'none' };
    let prologue: ActivationSpec | null = null;
    const chain = [i];

    const next = single(out) ? consumerOf.get(out) : undefined;
    const nextOp = next !== undefined ? schedule[next] : undefined;
    if (nextOp?.op === 'activation_backward' && nextOp.inputs[0] === out) {
      prologue = (nextOp.attrs as OpAttrs['activation_backward']).activation;
      inputs.push(nextOp.inputs[1]);
      out = nextOp.outputs[0];
      chain.push(next!);
    } else {
      if (nextOp?.op === 'bias_add' && nextOp.inputs[0] === out && isLastAxis(nextOp.attrs as OpAttrs['bias_add'], out)) {
        bias = true;
        inputs.push(nextOp.inputs[1]);
        out = nextOp.outputs[0];
        chain.push(next!);
      }
      const after = single(out) ? consumerOf.get(out) : undefined;
      const afterOp = after !== undefined ? schedule[after] : undefined;
      // GELU's backward reads the activation's input, which fusion would no longer materialise.
      if (afterOp?.op === 'activation' && (afterOp.attrs as OpAttrs['activation']).activation.kind !== 'gelu') {
        activation = (afterOp.attrs as OpAttrs['activation']).activation;
        out = afterOp.outputs[0];
        chain.push(after!);
      }
    }
    if (chain.length === 1) return;
    for (const k of chain) absorbed.add(k);
    const last = chain[chain.length - 1];
    replaced.set(last, {
      op: 'matmul_fused',
      attrs: { transA, transB, bias, activation, prologue },
      inputs,
      outputs: [out],
      layer: step.layer,
    });
  });

  const result: ScheduledOp[] = [];
  schedule.forEach((step, i) => {
    if (replaced.has(i)) result.push(replaced.get(i)!);
    else if (!absorbed.has(i)) result.push(step);
  });
  return result;
}

function isLastAxis({ axis }: OpAttrs['bias_add'], v: Value): boolean {
  return axis === -1 || axis === v.shape.length - 1;
}
