import type { Page } from 'playwright';
import { describe, expect, it } from 'vitest';
import { openDemo, useChromium, useDemoServer } from './helpers/demo.js';

const server = useDemoServer();

interface GpuCalls {
  requestAdapter: number;
  requestDevice: number;
  submit: number;
}

/**
 * Counts the page's own WebGPU calls. Init scripts run in the page's frames, never in its
 * workers, so the training worker's calls are not counted: only the main thread's.
 */
function countMainThreadGpu(): void {
  const calls = { requestAdapter: 0, requestDevice: 0, submit: 0 };
  (window as unknown as { __gpuCalls: GpuCalls }).__gpuCalls = calls;
  const wrap = <T extends object>(proto: T | undefined, name: keyof T & string, counter: keyof GpuCalls) => {
    if (!proto) return;
    const original = proto[name] as unknown as (...args: unknown[]) => unknown;
    (proto as Record<string, unknown>)[name] = function (this: unknown, ...args: unknown[]) {
      calls[counter]++;
      return original.apply(this, args);
    };
  };
  const g = globalThis as unknown as { GPU?: { prototype: object }; GPUAdapter?: { prototype: object }; GPUQueue?: { prototype: object } };
  wrap(g.GPU?.prototype, 'requestAdapter' as never, 'requestAdapter');
  wrap(g.GPUAdapter?.prototype, 'requestDevice' as never, 'requestDevice');
  wrap(g.GPUQueue?.prototype, 'submit' as never, 'submit');
}

async function openCounted(browser: ReturnType<ReturnType<typeof useChromium>>, url: string) {
  const context = await browser.newContext();
  await context.addInitScript(countMainThreadGpu);
  const opened = await openDemo(context as never, url);
  return { ...opened, close: () => context.close() };
}

const gpuCalls = (page: Page) => page.evaluate(() => (window as unknown as { __gpuCalls: GpuCalls }).__gpuCalls);

/** Bytes of a safetensors file after its header: the tensor data alone (the header carries the step). */
const tensorData = `(bytes) => { const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true)); return Array.from(bytes.subarray(8 + n)); }`;

describe('demos train in a Web Worker', () => {
  const browser = useChromium({ webgpu: true });

  it('the probe sees main-thread GPU work where there is some (the index page runs relu on the page)', async () => {
    const { page, state, close } = await openCounted(browser(), `${server().url}index.html`);
    try {
      expect(state).toBe('ready');
      const calls = await gpuCalls(page);
      expect(calls.requestAdapter).toBeGreaterThanOrEqual(1);
      expect(calls.requestDevice).toBeGreaterThanOrEqual(1);
      expect(calls.submit).toBeGreaterThanOrEqual(1);
    } finally {
      await close();
    }
  });

  it.each([
    ['mlp', '?arch=32&train=640&test=300&batch=32&evalEvery=16&autostart=1', 'steps', 24],
    ['cnn', '?arch=4&train=320&test=100&batch=32&evalEvery=8&autostart=1', 'steps', 8],
    ['gan', '?g=32&d=32&batch=32&train=1000&chunk=5&autostart=1', 'iterations', 10],
  ] as const)('%s: while it trains, the page holds no GPU device and submits no GPU work', async (name, query, counter, until) => {
    const { page, state, errors, close } = await openCounted(browser(), `${server().url}${name}.html${query}`);
    try {
      expect(state).toBe('ready');
      // Training progress arrives from the worker, evaluations (or samples) included.
      await page.waitForFunction(([c, n]) => ((window as unknown as { __demo: Record<string, number> }).__demo[c] ?? 0) >= n, [counter, until] as const);
      expect(page.workers().length).toBeGreaterThanOrEqual(1);
      expect(await page.locator('#adapter-summary').innerText()).toMatch(/swiftshader/i);
      expect(await gpuCalls(page)).toEqual({ requestAdapter: 0, requestDevice: 0, submit: 0 });
      expect(await page.evaluate(() => document.body.dataset.train)).toBe('running');
      expect(errors).toEqual([]);
    } finally {
      await close();
    }
  });

  it('pauses between chunks, takes a learning rate and round-trips checkpoints through the worker', async () => {
    const { page, errors, close } = await openCounted(browser(), `${server().url}mlp.html?arch=32&train=640&test=300&batch=32&evalEvery=64&autostart=1`);
    try {
      await page.waitForFunction(() => (window.__demo as { steps: number }).steps >= 16);
      const result = await page.evaluate(`(async () => {
        const data = ${tensorData};
        const steps = () => window.__demo.steps;
        const run = window.__run;
        const tick = (ms) => new Promise((r) => setTimeout(r, ms));
        const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);
        await run.pause();
        const pausedAt = steps();
        const a = await run.checkpoint({});
        await tick(400);
        const b = await run.checkpoint({});
        const stillPaused = steps() === pausedAt && same(data(a), data(b));
        // A vanishing rate: Adam's updates round away, so 16 more steps leave the weights as they were.
        await run.setLearningRate(1e-30);
        await run.resume();
        while (steps() < pausedAt + 16) await tick(20);
        await run.pause();
        const c = await run.checkpoint({});
        const frozen = same(data(a), data(c));
        // An ordinary rate moves them again.
        await run.setLearningRate(0.01);
        await run.resume();
        while (steps() < pausedAt + 32) await tick(20);
        await run.pause();
        const d = await run.checkpoint({});
        const moved = !same(data(c), data(d));
        // Back to the paused weights: the worker's model holds exactly the checkpoint's tensors.
        await run.load(a);
        const restored = same(data(await run.checkpoint({})), data(a));
        await run.resume();
        return { stillPaused, frozen, moved, restored, pausedAt, after: steps() };
      })()`);
      expect(result).toMatchObject({ stillPaused: true, frozen: true, moved: true, restored: true });
      expect((result as { after: number }).after).toBeGreaterThanOrEqual((result as { pausedAt: number }).pausedAt + 32);
      expect(await gpuCalls(page)).toEqual({ requestAdapter: 0, requestDevice: 0, submit: 0 });
      expect(errors).toEqual([]);
    } finally {
      await close();
    }
  });
});
