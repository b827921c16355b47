#!/usr/bin/env node
// Time from page load to the first completed training step on a first visit (empty autotune cache),
// for the MLP and CNN demos, in headless Chromium.
//
//   node bench/first_step.mjs [--runs N] [--only mlp|cnn] [--query '?train=640&…'] [--dev]
//
// Serves the demos as a visitor gets them: built by Vite (into a temporary folder) and served by
// `vite preview`; with --dev, from the dev server instead (each module a request, so slower; each
// page is then loaded once first, unmeasured, so that Vite's on-demand transform is not counted).
// Each run launches a new headless Chromium (so IndexedDB, where the autotuner keeps its winners,
// and the GPU process's shader caches start empty), opens the page, waits until Start is enabled,
// presses it and waits for the page to report its first step. Times are milliseconds from the
// page's navigation start (performance.now() in the page). Prints one JSON object on stdout.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, preview } from 'vite';
import { parseArgs } from 'node:util';
import { launchChromium, startVite, watchErrors } from './lib/chromium.mjs';

const repo = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    only: { type: 'string', default: '' },
    query: { type: 'string', default: '' },
    dev: { type: 'boolean', default: false },
  },
});
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer, got '${values.runs}'`);
const pages = ['mlp', 'cnn'].filter((p) => !values.only || p === values.only);
const TIMEOUT_MS = 600_000;

/** Milliseconds from navigation start until Start is enabled and until the first step is reported. */
async function firstVisit(url) {
  const browser = await launchChromium({ webgpu: true });
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(TIMEOUT_MS);
    const errors = watchErrors(page, (e) => process.stderr.write(`${e}\n`));
    await page.goto(url, { waitUntil: 'load' });
    await page.waitForFunction(() => document.body.dataset.train === 'idle' || document.body.dataset.state === 'error', undefined, { polling: 20 });
    if ((await page.evaluate(() => document.body.dataset.state)) === 'error') throw new Error(`${url}: the page reported an error: ${errors.join('; ')}`);
    const startEnabledMs = await page.evaluate(() => performance.now());
    await page.click('#start');
    await page.waitForFunction(() => (window.__demo?.steps ?? 0) >= 1, undefined, { polling: 20 });
    const firstStepMs = await page.evaluate(() => performance.now());
    return { startEnabledMs: Math.round(startEnabledMs), firstStepMs: Math.round(firstStepMs) };
  } finally {
    await browser.close();
  }
}

/** The demos as built for a visitor, served by `vite preview` from a temporary folder. */
async function startPreview() {
  const configFile = resolve(repo, 'demos/vite.config.ts');
  const outDir = mkdtempSync(join(tmpdir(), 'webgpu-dl-demos-'));
  await build({ configFile, logLevel: 'warn', build: { outDir, emptyOutDir: true } });
  const server = await preview({ configFile, logLevel: 'warn', build: { outDir }, preview: { port: 0, host: 'localhost' } });
  const url = server.resolvedUrls?.local[0];
  if (!url) throw new Error('vite preview reported no local URL');
  return { url, close: async () => { await server.close(); rmSync(outDir, { recursive: true, force: true }); } };
}

const server = values.dev ? await startVite({ configFile: resolve(repo, 'demos/vite.config.ts') }) : await startPreview();
const results = [];
try {
  for (const name of pages) {
    const url = `${server.url}${name}.html${values.query}`;
    if (values.dev) await firstVisit(url); // warms Vite's transform cache; not counted
    const times = [];
    for (let i = 0; i < runs; i++) {
      times.push(await firstVisit(url));
      process.stderr.write(`${name} run ${i + 1}: ${JSON.stringify(times.at(-1))}\n`);
    }
    const median = (key) => times.map((t) => t[key]).sort((a, b) => a - b)[Math.floor(times.length / 2)];
    results.push({ page: name, runs: times, medianStartEnabledMs: median('startEnabledMs'), medianFirstStepMs: median('firstStepMs') });
  }
} finally {
  await server.close();
}
process.stdout.write(`${JSON.stringify({ date: new Date().toISOString(), served: values.dev ? 'dev' : 'preview', query: values.query, results }, null, 1)}\n`);
