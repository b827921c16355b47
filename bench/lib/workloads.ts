/// <reference types="vite/client" />
import type { Runner, Workload } from '../workload.js';

// What the page (browser) and the Node runner share: finding the workloads and timing a run.

/** Every module in bench/workloads default-exports Workload[]; a new file is picked up with no registry. */
const modules = import.meta.glob<{ default: Workload[] }>('../workloads/*.ts', { eager: true });

/** All workloads, ids unique, sorted with numbers compared as numbers. */
export function allWorkloads(): Workload[] {
  const list = Object.entries(modules).flatMap(([path, m]) => {
    if (!Array.isArray(m.default)) throw new Error(`${path} must default-export an array of workloads`);
    return m.default;
  });
  const seen = new Set<string>();
  for (const w of list) {
    if (seen.has(w.id)) throw new Error(`workload id '${w.id}' is defined twice`);
    seen.add(w.id);
  }
  return list.sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }));
}

/** Divides a rate in units of work per second into the unit's scale. */
export const SCALE: Record<Workload['unit'], number> = { 'GFLOP/s': 1e9, 'samples/s': 1, 'iterations/s': 1, 'tokens/s': 1 };

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Wall milliseconds of one run. */
export async function timed(runner: Runner): Promise<number> {
  const start = performance.now();
  await runner.run();
  return performance.now() - start;
}
