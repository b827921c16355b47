#!/usr/bin/env node
// Main-thread long tasks (the Long Tasks API: tasks over 50 ms) while the MLP, CNN and GAN demos
// train, in headless Chromium on SwiftShader.
//
//   node bench/demo_longtasks.mjs [--tree PATH] [--only mlp|cnn|gan]
//
// --tree serves the demos of another checkout (e.g. a `git worktree` of an older commit, to
// measure before a change); by default this one's. Each page is opened once unmeasured (so Vite's
// on-demand transform is not counted), then again: Start is pressed once the page is idle, and
// every long task and every gap between animation frames is recorded from then until the page
// reports the step (or iteration) count below, with Chromium's count of the main thread's task and
// script time over the same span (CDP Performance.getMetrics) and the JavaScript self time V8's
// sampling profiler sees there. Prints one JSON object on stdout.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { launchChromium, startVite, watchErrors } from './lib/chromium.mjs';

const repo = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({ options: { tree: { type: 'string', default: repo }, only: { type: 'string', default: '' } } });
const PAGES = [
  { name: 'mlp', query: '?arch=128,64&train=5000&test=500&batch=64&evalEvery=32', counter: 'steps', until: 96 },
  { name: 'cnn', query: '?arch=8,16&train=2000&test=200&batch=32&evalEvery=16', counter: 'steps', until: 32 },
  { name: 'gan', query: '?g=128,256&d=256,128&batch=64&train=5000&chunk=10', counter: 'iterations', until: 40 },
].filter((p) => !values.only || p.name === values.only);
const TIMEOUT_MS = 600_000;

/** Installed before the page's own scripts: long tasks and frame gaps, kept from `__measureFrom` on. */
function observe() {
  const seen = { tasks: [], frames: [] };
  window.__mainThread = seen;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) seen.tasks.push({ start: e.startTime, ms: e.duration });
  }).observe({ type: 'longtask', buffered: true });
  let last = 0;
  const frame = (t) => {
    if (last) seen.frames.push({ start: last, ms: t - last });
    last = t;
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
}

/** JavaScript self time in a V8 CPU profile (not idle, not the engine's own '(program)' or GC), and the top functions. */
function profiledJs(profile) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const byFunction = new Map();
  let gc = 0;
  profile.samples.forEach((id, i) => {
    const frame = nodes.get(id);
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    if (frame.functionName === '(garbage collector)') gc += ms;
    if (['(idle)', '(program)', '(garbage collector)', '(root)'].includes(frame.functionName)) return;
    const key = `${frame.functionName || '(anonymous)'} ${frame.url.split('/').slice(-2).join('/')}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + ms);
  });
  const total = [...byFunction.values()].reduce((a, b) => a + b, 0);
  const top = [...byFunction.entries()].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([f, ms]) => `${f} ${Math.round(ms)}`);
  return { mainThreadJsMs: Math.round(total), mainThreadGcMs: Math.round(gc), topJs: top };
}

async function measure(browser, url, page) {
  const context = await browser.newContext();
  try {
    await context.addInitScript(observe);
    const tab = await context.newPage();
    tab.setDefaultTimeout(TIMEOUT_MS);
    const errors = watchErrors(tab, (e) => process.stderr.write(`${e}\n`));
    await tab.goto(url, { waitUntil: 'load' });
    await tab.waitForFunction(() => document.body.dataset.train === 'idle' || document.body.dataset.state === 'error', undefined, { polling: 50 });
    if ((await tab.evaluate(() => document.body.dataset.state)) === 'error') throw new Error(`${url}: the page reported an error: ${errors.join('; ')}`);
    // Chromium's own count of the page's main-thread time (all tasks, and the JavaScript in them).
    const cdp = await context.newCDPSession(tab);
    await cdp.send('Performance.enable');
    const busy = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
    // And V8's sampling profiler: JavaScript self time on the main thread, by function.
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 500 });
    const before = await busy();
    await cdp.send('Profiler.start');
    const from = await tab.evaluate(() => performance.now());
    await tab.click('#start');
    await tab.waitForFunction(([c, n]) => (window.__demo?.[c] ?? 0) >= n, [page.counter, page.until], { polling: 50 });
    const { profile } = await cdp.send('Profiler.stop');
    const after = await busy();
    const mainThread = { taskMs: Math.round((after.TaskDuration - before.TaskDuration) * 1000), scriptMs: Math.round((after.ScriptDuration - before.ScriptDuration) * 1000) };
    const tasks = await tab.evaluate((t0) => {
      const now = performance.now();
      const { tasks, frames } = window.__mainThread;
      const during = tasks.filter((t) => t.start >= t0);
      const gaps = frames.filter((f) => f.start >= t0).map((f) => f.ms);
      const total = during.reduce((a, t) => a + t.ms, 0);
      return {
        trainingMs: Math.round(now - t0),
        longTasks: during.length,
        longTaskMs: Math.round(total),
        longestTaskMs: Math.round(Math.max(0, ...during.map((t) => t.ms))),
        blockedShare: Number((total / (now - t0)).toFixed(3)),
        longestFrameGapMs: Math.round(Math.max(0, ...gaps)),
      };
    }, from);
    return { ...tasks, mainThreadTaskMs: mainThread.taskMs, mainThreadScriptMs: mainThread.scriptMs, mainThreadShare: Number((mainThread.taskMs / tasks.trainingMs).toFixed(3)), ...profiledJs(profile) };
  } finally {
    await context.close();
  }
}

const server = await startVite({ configFile: resolve(values.tree, 'demos/vite.config.ts') });
const browser = await launchChromium({ webgpu: true });
const results = [];
try {
  for (const page of PAGES) {
    const url = `${server.url}${page.name}.html${page.query}`;
    await measure(browser, url, { ...page, until: 1 }); // warms Vite's transform cache; not counted
    const r = await measure(browser, url, page);
    process.stderr.write(`${page.name}: ${JSON.stringify(r)}\n`);
    results.push({ page: page.name, query: page.query, [page.counter]: page.until, ...r });
  }
} finally {
  await browser.close();
  await server.close();
}
process.stdout.write(`${JSON.stringify({ date: new Date().toISOString(), tree: values.tree, results }, null, 1)}\n`);
