#!/usr/bin/env node
// Side-by-side benchmark of webgpu-dl against TensorFlow.js's WebGPU backend, in headless Chromium.
//
//   npm run bench -- [--json] [--out FILE] [--only ID_PREFIX] [--runs N] [--warmup N] [--timeout SECONDS]
//
// Serves bench/page with Vite, opens it, and for each workload in bench/workloads/*.ts lets the
// page time both engines (alternating runs, medians). With --json, stdout carries exactly one JSON
// object; progress and the page's console errors go to stderr. With --out, the same JSON object is
// written to FILE atomically. A workload that fails or exceeds its timeout ends the run: the
// finished ones are still reported, the report names the one that failed, and the exit status is 1.
//
//   npm run bench -- --node [--json] [--only ID_PREFIX] [--runs N] [--warmup N] [--batches B,B,...] [--data DIR]
//
// runs only webgpu-dl's side, in Node on Dawn with no browser, from a bundle built first
// (bench/lib/node_bundle.mjs; its options are in bench/node/options.ts).
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { launchChromium, startVite, watchErrors } from './lib/chromium.mjs';
import { checkOutputFile, runWorkloads, within, writeJsonAtomically } from './lib/harness.mjs';
import { runNodeBench } from './lib/node_bundle.mjs';
import { formatTable } from './lib/table.mjs';

const repo = fileURLToPath(new URL('..', import.meta.url));
const USAGE = 'usage: npm run bench -- [--json] [--out FILE] [--only ID_PREFIX] [--runs N>=5] [--warmup N] [--timeout SECONDS]\n       npm run bench -- --node --help   (webgpu-dl alone, in Node)';

function options() {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      out: { type: 'string' },
      only: { type: 'string', default: '' },
      runs: { type: 'string', default: '7' },
      warmup: { type: 'string', default: '2' },
      timeout: { type: 'string', default: '300' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const int = (name, min) => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got '${values[name]}'`);
    return n;
  };
  // Fewer than 5 timed runs make the median too sensitive to one slow run.
  return { json: values.json, out: values.out, only: values.only, runs: int('runs', 5), warmup: int('warmup', 1), timeoutMs: int('timeout', 1) * 1e3, help: values.help };
}

const progress = (line) => process.stderr.write(`${line}\n`);

async function main() {
  const opts = options();
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (opts.out) await checkOutputFile(opts.out);
  let vite;
  let browser;
  try {
    vite = await startVite({
      configFile: false,
      root: fileURLToPath(new URL('./page', import.meta.url)),
      cacheDir: fileURLToPath(new URL('../node_modules/.vite-bench', import.meta.url)),
      // Pre-bundled at start-up: a dependency discovered mid-run would make Vite reload the page.
      optimizeDeps: {
        include: ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-webgpu', 'wgsl-preprocessor/wgsl-preprocessor.js'],
        exclude: ['webgpu'],
      },
      server: { fs: { allow: [repo] } },
    });
    progress(`bench: page served at ${vite.url}`);
    browser = await launchChromium({ webgpu: true });
    const page = await browser.newPage();
    // An uncaught exception before the page is ready (a workload module that throws on import)
    // ends the run at once instead of waiting out the start-up timeout.
    let startupFailed;
    const startupError = new Promise((_, reject) => {
      startupFailed = (text) => reject(new Error(`the benchmark page failed to start: ${text}`));
    });
    startupError.catch(() => {});
    watchErrors(page, (text) => {
      progress(`page: ${text}`);
      if (text.startsWith('uncaught:')) startupFailed?.(text.split('\n')[0]);
    });
    page.on('console', (m) => {
      if (m.type() === 'warning') progress(`page: console.warn: ${m.text()}`);
    });
    await page.goto(vite.url, { waitUntil: 'load', timeout: 120_000 });
    await within(
      Promise.race([page.waitForFunction(() => 'bench' in window, null, { timeout: 0 }), startupError]),
      120_000,
      'the benchmark page did not start within 120 s',
    );
    startupFailed = undefined;
    const { adapter, workloads } = await within(page.evaluate(() => window.bench.init()), 120_000, 'creating the engines timed out');
    if (!adapter.sameAdapter) progress(`bench: warning: TF.js runs on ${JSON.stringify(adapter.tfjs)}, not on our adapter`);
    progress(`bench: adapter ${adapter.vendor}/${adapter.architecture}${adapter.software ? ' (software)' : ''}, TF.js ${adapter.tfjsVersion}`);
    const chosen = workloads.filter((w) => w.id.startsWith(opts.only));
    if (chosen.length === 0) {
      throw new Error(`no workload id starts with '${opts.only}' (known: ${workloads.map((w) => w.id).join(', ')})`);
    }
    const run = await runWorkloads(
      chosen,
      (w) => {
        progress(`bench: ${w.id}: ${opts.warmup} warm-up + ${opts.runs} timed runs per engine…`);
        return page.evaluate(([id, o]) => window.bench.run(id, o), [w.id, { runs: opts.runs, warmup: opts.warmup }]);
      },
      {
        timeoutMs: opts.timeoutMs,
        onResult: (w, result) =>
          progress(`bench: ${w.id}: ours ${result.ours.toPrecision(4)} ${w.unit}, TF.js ${result.tfjs.toPrecision(4)}, ratio ${result.ratio.toFixed(2)}`),
      },
    );
    const report = {
      adapter,
      date: new Date().toISOString(),
      command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
      workloads: run.results,
      ...(run.failed ? { failed: run.failed, notRun: run.notRun } : {}),
    };
    if (opts.out) await writeJsonAtomically(opts.out, report);
    process.stdout.write(opts.json ? `${JSON.stringify(report)}\n` : formatTable(report));
    if (run.failed) throw new Error(`workload ${run.failed.id} did not finish (${run.failed.error}); the ${run.results.length} finished before it are reported`);
  } finally {
    await browser?.close().catch(() => {});
    await vite?.close().catch(() => {});
  }
}

const args = process.argv.slice(2);
const start = args.includes('--node') ? () => runNodeBench(args.filter((a) => a !== '--node')) : () => main().then(() => 0);
start().then(
  (status) => process.exit(status),
  (error) => {
    process.stderr.write(`bench: error: ${String(error?.message ?? error).split('\n')[0]}\n`);
    process.exit(1);
  },
);
