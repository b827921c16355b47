import { UsageError } from '../../src/cli/options.js';
import type { Workload } from '../workload.js';

/**
 * The workloads to run, sorted by id: with `batches`, each training workload once per batch size
 * (id `<id>-b<batch>`, the plain id at the page's batch, as scripts/bench_pytorch.py names them) and
 * the others as they are; then those whose id starts with `only`.
 */
export function selectWorkloads(list: readonly Workload[], { only, batches }: { only: string; batches?: readonly number[] }): Workload[] {
  const expanded = batches ? list.flatMap((w) => (w.atBatch ? batches.map((b) => w.atBatch!(b)) : [w])) : [...list];
  expanded.sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }));
  const chosen = expanded.filter((w) => w.id.startsWith(only));
  if (chosen.length === 0) {
    throw new UsageError(`--only ${only}: no workload id starts with it (known: ${expanded.map((w) => w.id).join(', ')})`);
  }
  return chosen;
}
