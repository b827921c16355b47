/** One scheduled node as the memory planner sees it: the value ids it reads and defines. */
export interface PlanStep {
  uses: readonly number[];
  defines: readonly number[];
  /** Outputs that are views of an input (reshape, stop_gradient): they share the input's slot. */
  aliases?: ReadonlyMap<number, number>;
}

export interface MemoryPlan {
  /** Slot of every pooled value; values not listed (persistent ones) own their buffers. */
  slotOf: Map<number, number>;
  /** Bytes each slot must hold: the largest value ever placed in it. */
  slotBytes: number[];
}

/**
 * Assigns activation/gradient values to reusable buffer slots by liveness: a value occupies its
 * slot from the step that defines it to its last use, after which the slot is free for later values.
 * A step's outputs never share a slot with its inputs (kernels do not run in place). Persistent
 * values (inputs, parameters, gradients, optimizer state, requested outputs) are left out.
 * Best fit by size keeps large slots for large values.
 */
export function planMemory(steps: readonly PlanStep[], bytesOf: (id: number) => number, persistent: ReadonlySet<number>): MemoryPlan {
  // Follow alias chains to the value that owns the storage.
  const rootOf = new Map<number, number>();
  const root = (id: number): number => {
    let r = id;
    while (rootOf.has(r)) r = rootOf.get(r)!;
    return r;
  };
  for (const step of steps) for (const [out, input] of step.aliases ?? []) rootOf.set(out, input);

  const pinned = new Set<number>();
  for (const id of persistent) pinned.add(root(id));
  const lastUse = new Map<number, number>();
  steps.forEach((step, i) => {
    for (const id of [...step.uses, ...step.defines]) lastUse.set(root(id), i);
  });

  const slotOf = new Map<number, number>();
  const slotBytes: number[] = [];
  const free = new Set<number>();
  steps.forEach((step, i) => {
    for (const id of step.defines) {
      const r = root(id);
      if (r !== id) {
        if (slotOf.has(r)) slotOf.set(id, slotOf.get(r)!);
        continue;
      }
      if (pinned.has(id) || slotOf.has(id)) continue;
      const need = bytesOf(id);
      let best = -1;
      for (const s of free) {
        const fits = slotBytes[s] >= need;
        const bestFits = best >= 0 && slotBytes[best] >= need;
        if (best < 0 || (fits && (!bestFits || slotBytes[s] < slotBytes[best])) || (!fits && !bestFits && slotBytes[s] > slotBytes[best])) best = s;
      }
      if (best < 0) {
        best = slotBytes.length;
        slotBytes.push(need);
      } else {
        free.delete(best);
        slotBytes[best] = Math.max(slotBytes[best], need);
      }
      slotOf.set(id, best);
    }
    for (const id of new Set([...step.uses, ...step.defines].map(root))) {
      if (lastUse.get(id) === i && slotOf.has(id)) free.add(slotOf.get(id)!);
    }
  });
  return { slotOf, slotBytes };
}
