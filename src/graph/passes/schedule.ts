import type { Graph, Value } from '../ir.js';
import type { OpAttrs, OpKind } from '../ops/kinds.js';

/** One op in execution order. Passes rewrite lists of these; Values keep their identity. */
export interface ScheduledOp<K extends OpKind = OpKind> {
  op: K;
  attrs: OpAttrs[K];
  inputs: readonly Value[];
  outputs: readonly Value[];
  layer?: string;
}

export type Schedule = readonly ScheduledOp[];

/** The graph's nodes in creation order, which is a topological order. */
export function scheduleOf(g: Graph): ScheduledOp[] {
  return g.nodes.map((n) => ({ op: n.op, attrs: n.attrs, inputs: n.inputs, outputs: n.outputs, layer: n.layer }));
}

/** How many times each value is read by the schedule. */
export function useCounts(schedule: Schedule): Map<Value, number> {
  const counts = new Map<Value, number>();
  for (const step of schedule) for (const v of step.inputs) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}

/** Drops ops none of whose outputs is read later or kept (requested outputs, gradients, state). */
export function eliminateDeadOps(schedule: Schedule, keep: ReadonlySet<Value>): ScheduledOp[] {
  const needed = new Set(keep);
  const out: ScheduledOp[] = [];
  for (let i = schedule.length - 1; i >= 0; i--) {
    const step = schedule[i];
    if (step.outputs.some((v) => needed.has(v))) {
      out.push(step);
      for (const v of step.inputs) needed.add(v);
    }
  }
  return out.reverse();
}
