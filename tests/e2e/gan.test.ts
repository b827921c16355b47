import { describe, expect, it } from 'vitest';
import { demoHooks, openDemo, screenshot, useChromium, useDemoServer } from './helpers/demo.js';

interface GanHooks {
  iterations: number;
  history: { iteration: number; dLoss: number; gLoss: number }[];
  sampleChange: number;
  initialSpread: number;
  sampleVersion: number;
  strip: number;
}

const server = useDemoServer();

const ITERATIONS = 40;
const QUERY = `?g=64&d=64&batch=32&train=2000&chunk=10&maxIterations=${ITERATIONS}`;

describe('GAN demo', () => {
  const browser = useChromium({ webgpu: true });

  it('moves the sample grid away from its initial noise, with finite D and G losses', async () => {
    const { page, errors, state } = await openDemo(browser(), `${server().url}gan.html${QUERY}`);
    try {
      expect(state).toBe('ready');
      expect(await page.locator('#adapter-summary').innerText()).toMatch(/swiftshader/i);
      await page.waitForFunction(() => document.body.dataset.train === 'idle');
      const before = await demoHooks<GanHooks>(page);
      expect(before.sampleVersion).toBe(1);
      expect(before.sampleChange).toBe(0);
      expect(before.initialSpread).toBeGreaterThan(0.01);
      await page.click('#start');
      await page.waitForFunction(() => document.body.dataset.train === 'done');
      const hooks = await demoHooks<GanHooks>(page);
      expect(hooks.iterations).toBe(ITERATIONS);
      expect(hooks.history.map((h) => h.iteration)).toEqual([10, 20, 30, 40]);
      for (const h of hooks.history) {
        expect(Number.isFinite(h.dLoss) && h.dLoss > 0).toBe(true);
        expect(Number.isFinite(h.gLoss) && h.gLoss > 0).toBe(true);
      }
      // Samples are in [−1, 1]; a mean move of 0.05 per pixel is far past float noise.
      expect(hooks.sampleChange).toBeGreaterThan(0.05);
      expect(hooks.sampleVersion).toBe(1 + ITERATIONS / 10);
      expect(await page.locator('#sample-grid canvas').count()).toBe(36);
      expect(await page.locator('#interpolation canvas').count()).toBe(10);
      await page.click('#new-pair');
      await page.waitForFunction((n) => (window.__demo as { strip: number }).strip > n, hooks.strip);
      await screenshot(page, 'demo-gan');
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('trains the DCGAN variant (transposed convolutions and batch norm)', async () => {
    const { page, errors, state } = await openDemo(browser(), `${server().url}gan.html?model=dcgan&g=8,4&d=4,8&batch=16&train=1000&chunk=5&maxIterations=10`);
    try {
      expect(state).toBe('ready');
      await page.waitForFunction(() => document.body.dataset.train === 'idle');
      await page.click('#start');
      await page.waitForFunction(() => document.body.dataset.train === 'done');
      const hooks = await demoHooks<GanHooks>(page);
      expect(hooks.iterations).toBe(10);
      for (const h of hooks.history) expect(Number.isFinite(h.dLoss) && Number.isFinite(h.gLoss)).toBe(true);
      expect(hooks.initialSpread).toBeGreaterThan(0.01);
      // Ten Adam steps at lr 2e-4 move the mean pixel by about 0.014 here; two identical
      // generators differ by float rounding only (under 1e-5).
      expect(hooks.sampleChange).toBeGreaterThan(0.005);
      await screenshot(page, 'demo-dcgan');
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
