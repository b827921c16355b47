import { describe, expect, it } from 'vitest';
import { demoHooks, openDemo, screenshot, useChromium, useDemoServer } from './helpers/demo.js';

interface ImagesHooks {
  state: string;
  dataset: string;
  classNames: string[];
  steps: number;
  history: { step: number; loss: number; accuracy: number }[];
  evals: { step: number; loss: number; accuracy: number; confusion: number[][] }[];
  grid: { label: number; predicted: number; confidence: number }[];
}

interface GpuCalls {
  requestAdapter: number;
  requestDevice: number;
  submit: number;
}

/** Counts the page's own WebGPU calls (init scripts run in the page, not in its workers). */
function countMainThreadGpu(): void {
  const calls = { requestAdapter: 0, requestDevice: 0, submit: 0 };
  (window as unknown as { __gpuCalls: GpuCalls }).__gpuCalls = calls;
  const wrap = (proto: object | undefined, name: string, counter: keyof GpuCalls) => {
    if (!proto) return;
    const original = (proto as Record<string, (...a: unknown[]) => unknown>)[name];
    (proto as Record<string, unknown>)[name] = function (this: unknown, ...args: unknown[]) {
      calls[counter]++;
      return original.apply(this, args);
    };
  };
  const g = globalThis as unknown as { GPU?: { prototype: object }; GPUAdapter?: { prototype: object }; GPUQueue?: { prototype: object } };
  wrap(g.GPU?.prototype, 'requestAdapter', 'requestAdapter');
  wrap(g.GPUAdapter?.prototype, 'requestDevice', 'requestDevice');
  wrap(g.GPUQueue?.prototype, 'submit', 'submit');
}

const server = useDemoServer();

// ResNet-8 of width 4 on the built-in colour MNIST, with Adam: 96 steps of 32 images (evaluations come between chunks of 4 steps).
const STEPS = 96;
const QUERY = `?depth=8&width=4&batch=32&train=960&test=200&opt=adam&lr=0.005&evalEvery=48&maxSteps=${STEPS}&augment=`;

describe('Images demo', () => {
  const browser = useChromium({ webgpu: true });

  it('trains a ResNet on the built-in colour MNIST: loss falls, predictions and the confusion matrix change, no main-thread GPU', async () => {
    const context = await browser().newContext();
    await context.addInitScript(countMainThreadGpu);
    const { page, errors, state } = await openDemo(context as never, `${server().url}images.html${QUERY}`);
    try {
      expect(state).toBe('ready');
      expect(await page.locator('#adapter-summary').innerText()).toMatch(/swiftshader/i);
      await page.waitForFunction(() => document.body.dataset.train === 'idle');
      const before = await demoHooks<ImagesHooks>(page);
      expect(before.dataset).toMatch(/colour MNIST: 960 training and 200 test images/);
      expect(before.classNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
      await page.click('#start');
      await page.waitForFunction(() => document.body.dataset.train === 'done', undefined, { timeout: 200_000 });
      const hooks = await demoHooks<ImagesHooks>(page);
      expect(hooks.steps).toBe(STEPS);
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      expect(mean(hooks.history.slice(-8).map((h) => h.loss))).toBeLessThan(mean(hooks.history.slice(0, 8).map((h) => h.loss)) * 0.85);
      expect(hooks.evals.map((e) => e.step)).toEqual([0, 48, STEPS]);
      const [first, last] = [hooks.evals[0], hooks.evals.at(-1)!];
      expect(last.loss).toBeLessThan(first.loss - 0.3);
      expect(last.accuracy).toBeGreaterThan(0.2);
      // Every test image is counted once in the 10×10 confusion matrix.
      expect(last.confusion).toHaveLength(10);
      expect(last.confusion.flat().reduce((a, b) => a + b, 0)).toBe(200);
      expect(last.confusion).not.toEqual(first.confusion);
      expect(hooks.grid).toHaveLength(24);
      expect(await page.locator('#prediction-grid figure').count()).toBe(24);
      expect(await page.locator('#confusion tr').count()).toBe(11);
      expect(await page.evaluate(() => (window as unknown as { __gpuCalls: GpuCalls }).__gpuCalls)).toEqual({ requestAdapter: 0, requestDevice: 0, submit: 0 });
      await screenshot(page, 'demo-images');
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 300_000);
});
