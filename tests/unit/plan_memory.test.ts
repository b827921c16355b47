import { describe, expect, it } from 'vitest';
import { planMemory, type PlanStep } from '../../src/graph/passes/plan_memory.js';
import { rng } from '../helpers/random.js';

/** Live interval [def, lastUse] of each value, alias chains resolved to their root. */
function intervals(steps: PlanStep[]): { root: Map<number, number>; live: Map<number, [number, number]> } {
  const root = new Map<number, number>();
  const find = (id: number): number => (root.has(id) ? find(root.get(id)!) : id);
  steps.forEach((s) => s.aliases?.forEach((input, out) => root.set(out, input)));
  const live = new Map<number, [number, number]>();
  steps.forEach((s, i) => {
    for (const id of [...s.defines, ...s.uses]) {
      const r = find(id);
      const cur = live.get(r);
      live.set(r, cur ? [Math.min(cur[0], i), i] : [i, i]);
    }
  });
  return { root: new Map([...root.keys()].map((k) => [k, find(k)])), live };
}

function checkNoLiveAliasing(steps: PlanStep[], persistent: Set<number>, sizes: Map<number, number>): { total: number; naive: number } {
  const plan = planMemory(steps, (id) => sizes.get(id)!, persistent);
  const { root, live } = intervals(steps);
  const pooled = [...live.keys()].filter((id) => plan.slotOf.has(id));
  for (const id of pooled) {
    expect(plan.slotBytes[plan.slotOf.get(id)!]).toBeGreaterThanOrEqual(sizes.get(id)!);
    for (const other of pooled) {
      if (other <= id || plan.slotOf.get(id) !== plan.slotOf.get(other)) continue;
      const [a0, a1] = live.get(id)!;
      const [b0, b1] = live.get(other)!;
      // Sharing a slot is only allowed when one value is dead before the other is defined.
      expect(a1 < b0 || b1 < a0, `values ${id} [${a0},${a1}] and ${other} [${b0},${b1}] share slot ${plan.slotOf.get(id)}`).toBe(true);
    }
  }
  for (const [alias, r] of root) if (plan.slotOf.has(r)) expect(plan.slotOf.get(alias)).toBe(plan.slotOf.get(r));
  for (const id of persistent) expect(plan.slotOf.has(id)).toBe(false);
  return {
    total: plan.slotBytes.reduce((a, b) => a + b, 0),
    naive: pooled.reduce((a, id) => a + sizes.get(id)!, 0),
  };
}

describe('planMemory', () => {
  it('reuses slots along a chain and never overlaps a step input with its output', () => {
    // x(0) -> a(1) -> b(2) -> c(3) -> d(4)
    const steps: PlanStep[] = [1, 2, 3, 4].map((id) => ({ uses: [id - 1], defines: [id] }));
    const sizes = new Map([[0, 100], [1, 100], [2, 100], [3, 100], [4, 100]]);
    const { total, naive } = checkNoLiveAliasing(steps, new Set([0, 4]), sizes);
    expect(naive).toBe(300);
    expect(total).toBe(200); // a ping-pong pair of slots
  });

  it('keeps values with long lives (saved for backward) apart', () => {
    // forward a, b, c; backward uses a and b again at the end
    const steps: PlanStep[] = [
      { uses: [0], defines: [1] },
      { uses: [1], defines: [2] },
      { uses: [2], defines: [3] },
      { uses: [3, 2], defines: [4] },
      { uses: [4, 1], defines: [5] },
    ];
    const sizes = new Map([0, 1, 2, 3, 4, 5].map((id) => [id, 64]));
    checkNoLiveAliasing(steps, new Set([0, 5]), sizes);
  });

  it('gives views the storage of their source', () => {
    const steps: PlanStep[] = [
      { uses: [0], defines: [1] },
      { uses: [1], defines: [2], aliases: new Map([[2, 1]]) },
      { uses: [2], defines: [3] },
      { uses: [3], defines: [4] },
    ];
    const sizes = new Map([0, 1, 2, 3, 4].map((id) => [id, 32]));
    checkNoLiveAliasing(steps, new Set([0, 4]), sizes);
  });

  it('never aliases live values on random graphs, and saves memory', () => {
    const next = rng(42);
    let savedSomething = false;
    for (let trial = 0; trial < 200; trial++) {
      const steps: PlanStep[] = [];
      const sizes = new Map<number, number>([[0, 4 + Math.floor(next() * 400)]]);
      let id = 1;
      const n = 3 + Math.floor(next() * 25);
      for (let s = 0; s < n; s++) {
        const uses = [...new Set(Array.from({ length: 1 + Math.floor(next() * 3) }, () => Math.floor(next() * id)))];
        const outs = Array.from({ length: 1 + Math.floor(next() * 2) }, () => id++);
        outs.forEach((o) => sizes.set(o, 4 + Math.floor(next() * 400)));
        const aliases = next() < 0.2 && outs.length === 1 ? new Map([[outs[0], uses[0]]]) : undefined;
        if (aliases) sizes.set(outs[0], sizes.get(uses[0])!);
        steps.push({ uses, defines: outs, aliases });
      }
      const persistent = new Set([0, id - 1]);
      const { total, naive } = checkNoLiveAliasing(steps, persistent, sizes);
      expect(total).toBeLessThanOrEqual(naive);
      if (total < naive) savedSomething = true;
    }
    expect(savedSomething).toBe(true);
  });
});
