import type { Graph, Value } from '../ir.js';
import type { OpAttrs, OpKind } from '../ops/kinds.js';

/** One op of kind K in execution order. Passes rewrite lists of these; Values keep their identity. */
export interface ScheduledOpOf<K extends OpKind> {
  op: K;
  attrs: OpAttrs[K];
  inputs: readonly Value[];
  outputs: readonly Value[];
  layer?: string;
}

/**
 * A scheduled op of one of the kinds K: a union discriminated by `op`, so a pass that tests
 * `step.op === 'sum'` reads `step.attrs.axis` with no cast.
 */
export type ScheduledOp<K extends OpKind = OpKind> = { [P in K]: ScheduledOpOf<P> }[K];

export type Schedule = readonly ScheduledOp[];

/** The graph's nodes in creation order, which is a topological order. */
export function scheduleOf(g: Graph): ScheduledOp[] {
  // A node is a scheduled op of its kind; the copy keeps passes from aliasing the graph's nodes.
  return g.nodes.map((node): ScheduledOp => ({ ...node }));
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
