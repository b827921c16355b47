import { describe, expect, it } from 'vitest';
import { demoHooks, openDemo, screenshot, useChromium, useDemoServer } from './helpers/demo.js';

interface CnnHooks {
  steps: number;
  history: { step: number; loss: number; accuracy: number }[];
  evals: { step: number; loss: number; accuracy: number }[];
  grid: { label: number; predicted: number; confidence: number }[];
}

const server = useDemoServer();

// Two conv blocks of 8 and 16 channels: each step costs a few hundred ms on SwiftShader, so 40 steps.
const STEPS = 40;
const QUERY = `?arch=8,16&train=640&test=200&batch=32&evalEvery=${STEPS}&maxSteps=${STEPS}`;

describe('CNN demo', () => {
  const browser = useChromium({ webgpu: true });

  it('trains to well above chance and shows filters and feature maps', async () => {
    const { page, errors, state } = await openDemo(browser(), `${server().url}cnn.html${QUERY}`);
    try {
      expect(state).toBe('ready');
      expect(await page.locator('#adapter-summary').innerText()).toMatch(/swiftshader/i);
      await page.waitForFunction(() => document.body.dataset.train === 'idle');
      await page.click('#start');
      await page.waitForFunction(() => document.body.dataset.train === 'done');
      const hooks = await demoHooks<CnnHooks>(page);
      expect(hooks.steps).toBe(STEPS);
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      expect(mean(hooks.history.slice(-8).map((h) => h.loss))).toBeLessThan(mean(hooks.history.slice(0, 8).map((h) => h.loss)) * 0.8);
      const [first, last] = [hooks.evals[0], hooks.evals.at(-1)!];
      expect(last.step).toBe(STEPS);
      expect(last.loss).toBeLessThan(first.loss);
      expect(last.accuracy).toBeGreaterThan(0.5);
      expect(hooks.grid).toHaveLength(30);
      expect(await page.locator('#filters').getAttribute('data-filters')).toBe('8');
      // conv, relu, pool for each of the two blocks.
      expect(await page.locator('#feature-maps').getAttribute('data-layers')).toBe('6');
      expect(await page.locator('#feature-maps .fm-row[data-layer="3"] canvas').count()).toBe(16);
      await screenshot(page, 'demo-cnn');
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
