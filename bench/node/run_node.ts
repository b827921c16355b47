/// <reference types="vite/client" />
// webgpu-dl's side of every benchmark workload, in Node on Dawn, with no browser: built into
// bench/dist-node/run-node.js (npm run build:bench), so that a machine with only `node` and the
// `webgpu` package can run it (see the README's Benchmark section). Prints the page's JSON schema
// with --json (tfjs and ratio null), a table without; progress goes to stderr.
import { cpus } from 'node:os';
import { relative } from 'node:path';
import { UsageError } from '../../src/cli/options.js';
import { createEngine, type Engine } from '../../src/gpu/engine.js';
import { checkOutputFile, runWorkloads, within, writeJsonAtomically } from '../lib/harness.mjs';
import { allWorkloads } from '../lib/workloads.js';
import type { Workload } from '../workload.js';
import { measureOurs, type NodeWorkloadResult } from './measure.js';
import { useMnistFolder } from './mnist.js';
import { NODE_BENCH_USAGE, parseNodeBenchArgs } from './options.js';
import { selectWorkloads } from './select.js';
import { formatNodeTable, type NodeBenchReport } from './table.js';


const progress = (line: string) => process.stderr.write(`${line}\n`);

function adapterReport(engine: Engine): NodeBenchReport['adapter'] {
  const cores = cpus();
  return { ...engine.info, node: process.version, cpu: cores[0]?.model ?? 'unknown', cpus: cores.length };
}

/** Runs the benchmark; resolves to the exit status. */
async function main(argv: readonly string[]): Promise<number> {
  const opts = parseNodeBenchArgs(argv);
  if (opts.help) {
    process.stdout.write(`${NODE_BENCH_USAGE}\n`);
    return 0;
  }
  if (opts.out) await checkOutputFile(opts.out);
  const chosen = selectWorkloads(allWorkloads(), opts);
  useMnistFolder(opts.data);
  const engine = await createEngine({ powerPreference: 'high-performance', log: progress });
  let finished = true;
  try {
    const adapter = adapterReport(engine);
    progress(`bench: adapter ${adapter.vendor}/${adapter.architecture}${adapter.software ? ' (software)' : ''}, Node ${adapter.node}`);
    const run = await runWorkloads<Workload, NodeWorkloadResult>(
      chosen,
      (w) => {
        progress(`bench: ${w.id}: ${opts.warmup} warm-up + ${opts.runs} timed runs…`);
        return measureOurs(engine, w, opts, progress);
      },
      {
        timeoutMs: opts.timeoutMs,
        onResult: (w, r) => progress(`bench: ${w.id}: ${r.ours.toPrecision(4)} ${w.unit}, ${r.oursMedianMs.toFixed(2)} ms/run, CPU ${r.oursCpuMsPerRun.toFixed(2)} ms/run`),
      },
    );
    // A workload that timed out may still be running on the GPU: then the device is not waited for.
    finished = !run.failed;
    const report: NodeBenchReport = {
      adapter,
      date: new Date().toISOString(),
      command: `node ${relative(process.cwd(), process.argv[1] ?? 'run-node.js')} ${argv.join(' ')}`.trim(),
      workloads: run.results,
      ...(run.failed ? { failed: run.failed, notRun: run.notRun } : {}),
    };
    if (opts.out) await writeJsonAtomically(opts.out, report);
    process.stdout.write(opts.json ? `${JSON.stringify(report)}\n` : formatNodeTable(report));
    if (run.failed) progress(`bench: error: workload ${run.failed.id} did not finish (${run.failed.error}); the ${run.results.length} finished before it are reported`);
    return run.failed ? 1 : 0;
  } finally {
    if (finished) await within(engine.close(), 30_000, 'closing the GPU device timed out').catch((e) => progress(`bench: ${(e as Error).message}`));
  }
}

main(process.argv.slice(2)).then(
  (status) => process.exit(status),
  (error) => {
    process.stderr.write(`bench: error: ${String((error as Error)?.message ?? error).split('\n')[0]}\n`);
    process.exit(error instanceof UsageError ? 2 : 1);
  },
);
