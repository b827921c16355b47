import { existsSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadMnist } from '../../src/data/idx_files.js';
import { demoHooks, openDemo, screenshot, useChromium, useDemoServer } from './helpers/demo.js';

interface MlpHooks {
  state: string;
  steps: number;
  lr: number;
  history: { step: number; loss: number; accuracy: number }[];
  evals: { step: number; loss: number; accuracy: number }[];
  grid: { label: number; predicted: number; confidence: number }[];
  drawn?: { top: { digit: number; p: number }[] };
  samplesPerSec: number;
  stepMs: number;
  longestTaskMs: number;
  augment?: { shift?: number; rotate?: number; scale?: number };
  batch: number[][];
}

const server = useDemoServer();

// Tiny on purpose: SwiftShader runs the kernels on the CPU. Batches of 32 from 640 samples; the
// step limit is set once training has been paused.
const QUERY = '?arch=32&train=640&test=300&batch=32&evalEvery=32&maxSteps=0';

/** The demo's training images (the first 640 of MNIST's training set), as bytes. */
let trainImages: Uint8Array;
beforeAll(async () => {
  trainImages = (await loadMnist()).train.images.subarray(0, 640 * 784);
});

/** How many of the shown batch images (values in [0, 1]) are, pixel for pixel, one of the training images. */
function unaltered(batch: number[][]): number {
  return batch.filter((image) => {
    for (let k = 0; k < 640; k++) {
      let same = true;
      for (let p = 0; p < 784 && same; p++) same = Math.abs(image[p] * 255 - trainImages[k * 784 + p]) < 0.01;
      if (same) return true;
    }
    return false;
  }).length;
}

describe('MLP demo', () => {
  const browser = useChromium({ webgpu: true });

  it('trains live, classifies a drawing, and restores predictions from saved weights', async () => {
    const { page, errors, state } = await openDemo(browser(), `${server().url}mlp.html${QUERY}`);
    try {
      expect(state).toBe('ready');
      expect(await page.locator('#adapter-summary').innerText()).toMatch(/swiftshader/i);
      expect(await page.locator('#tuner-note').innerText()).toMatch(/autotuner .* background/);
      await page.waitForFunction(() => document.body.dataset.train === 'idle');

      // The learning rate is taken live, without rebuilding the model (once the worker has it).
      await page.fill('#lr', '0.003');
      await page.dispatchEvent('#lr', 'change');
      await page.waitForFunction(() => (window.__demo as { lr: number }).lr === 0.003);

      // Start, pause part way, resume up to a step limit.
      await page.click('#start');
      await page.waitForFunction(() => (window.__demo as { steps: number }).steps >= 16);
      await page.click('#start');
      await page.waitForFunction(() => document.body.dataset.train === 'paused');
      const pausedAt = (await demoHooks<MlpHooks>(page)).steps;
      await page.waitForTimeout(300);
      expect((await demoHooks<MlpHooks>(page)).steps).toBe(pausedAt);
      const total = Math.max(64, pausedAt + 16);
      await page.fill('#max-steps', String(total));
      await page.click('#start');
      await page.waitForFunction(() => document.body.dataset.train === 'done');

      const hooks = await demoHooks<MlpHooks>(page);
      expect(hooks.steps).toBe(total);
      expect(hooks.history.map((h) => h.step)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      const early = mean(hooks.history.slice(0, 8).map((h) => h.loss));
      const late = mean(hooks.history.slice(-8).map((h) => h.loss));
      expect(late).toBeLessThan(early * 0.75);
      const first = hooks.evals[0];
      const last = hooks.evals.at(-1)!;
      expect(first.step).toBe(0);
      expect(last.step).toBe(total);
      expect(last.accuracy).toBeGreaterThan(0.5);
      expect(last.loss).toBeLessThan(first.loss);
      expect(hooks.samplesPerSec).toBeGreaterThan(0);
      expect(hooks.grid).toHaveLength(30);
      expect(await page.locator('#prediction-grid .digit.wrong').count()).toBe(hooks.grid.filter((g) => g.predicted !== g.label).length);
      expect(await page.locator('#confusion td').count()).toBe(100);
      expect(await page.locator('#weights canvas').count()).toBe(32);
      // Without augmentation the last batch shows training images exactly as stored.
      expect(hooks.augment).toBeUndefined();
      expect(hooks.batch).toHaveLength(8);
      expect(unaltered(hooks.batch)).toBe(8);

      // A stroke on the pad is classified as it is drawn.
      await page.locator('#draw-pad').scrollIntoViewIfNeeded();
      const box = (await page.locator('#draw-pad').boundingBox())!;
      await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.15);
      await page.mouse.down();
      await page.mouse.move(box.x + box.width * 0.52, box.y + box.height * 0.5, { steps: 5 });
      await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.85, { steps: 5 });
      await page.mouse.up();
      await page.waitForSelector('#draw-top3[data-prediction]');
      const drawn = (await demoHooks<MlpHooks>(page)).drawn!;
      expect(drawn.top).toHaveLength(3);
      expect(drawn.top[0].p).toBeGreaterThanOrEqual(drawn.top[1].p);
      expect(await page.locator('#draw-top3 li').count()).toBe(3);
      expect(existsSync(await screenshot(page, 'demo-mlp'))).toBe(true);

      // Save, reset to fresh weights (other predictions), load: the trained predictions return.
      const trained = hooks.grid;
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#save-file')]);
      expect(download.suggestedFilename()).toMatch(/^mlp-32-step\d+\.safetensors$/);
      const file = await download.path();
      await page.click('#reset');
      await page.waitForFunction(() => document.body.dataset.train === 'idle');
      const fresh = await demoHooks<MlpHooks>(page);
      expect(fresh.steps).toBe(0);
      expect(fresh.grid.map((g) => g.confidence)).not.toEqual(trained.map((g) => g.confidence));
      await page.setInputFiles('#load-file', file);
      await page.waitForSelector('#checkpoint-status[data-loaded="1"]');
      const restored = (await demoHooks<MlpHooks>(page)).grid;
      expect(restored.map((g) => g.predicted)).toEqual(trained.map((g) => g.predicted));
      for (let i = 0; i < trained.length; i++) expect(restored[i].confidence).toBeCloseTo(trained[i].confidence, 5);

      // The same through IndexedDB.
      await page.click('#save-idb');
      await page.waitForSelector('#checkpoint-status:has-text("Saved in this browser")');
      await page.click('#reset');
      await page.waitForFunction(() => document.body.dataset.train === 'idle');
      await page.click('#load-idb');
      await page.waitForSelector('#checkpoint-status[data-loaded="2"]');
      expect((await demoHooks<MlpHooks>(page)).grid.map((g) => g.predicted)).toEqual(trained.map((g) => g.predicted));

      // A hidden tab pauses training, and showing it again resumes.
      await page.fill('#max-steps', '0');
      await page.click('#start');
      await page.waitForFunction(() => document.body.dataset.train === 'running');
      const setHidden = (hidden: boolean) =>
        page.evaluate((h) => {
          Object.defineProperty(document, 'hidden', { configurable: true, get: () => h });
          document.dispatchEvent(new Event('visibilitychange'));
        }, hidden);
      await setHidden(true);
      await page.waitForFunction(() => document.body.dataset.train === 'paused');
      const hiddenAt = (await demoHooks<MlpHooks>(page)).steps;
      await page.waitForTimeout(300);
      expect((await demoHooks<MlpHooks>(page)).steps).toBe(hiddenAt);
      await setHidden(false);
      await page.waitForFunction((n) => (window.__demo as { steps: number }).steps > n, hiddenAt);
      await page.click('#start');
      await page.waitForFunction(() => document.body.dataset.train === 'paused');
      console.log(`MLP demo: ${hooks.samplesPerSec.toFixed(0)} samples/s, ${hooks.stepMs.toFixed(1)} ms/step, longest main-thread task while training ${hooks.longestTaskMs} ms`);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('augments the training batches on the GPU when asked, and refuses a bad augmentation on the page', async () => {
    const { page, errors } = await openDemo(browser(), `${server().url}mlp.html?arch=32&train=640&test=300&batch=32&evalEvery=24&maxSteps=24&augment=shift=2,rotate=10`);
    try {
      await page.waitForFunction(() => document.body.dataset.train === 'idle');
      await page.click('#start');
      await page.waitForFunction(() => document.body.dataset.train === 'done');
      const hooks = await demoHooks<MlpHooks>(page);
      expect(hooks.augment).toEqual({ shift: 2, rotate: 10 });
      expect(hooks.batch).toHaveLength(8);
      // Every image is moved or turned (a random rotation never leaves the pixels as stored).
      expect(unaltered(hooks.batch)).toBe(0);
      expect(hooks.batch.every((image) => image.some((v) => v > 0.5))).toBe(true);
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      expect(mean(hooks.history.slice(-8).map((h) => h.loss))).toBeLessThan(mean(hooks.history.slice(0, 8).map((h) => h.loss)));
      expect(await page.locator('#batch-strip[data-version="24"] canvas').count()).toBe(8);
      await page.locator('#batch-strip').scrollIntoViewIfNeeded();
      await screenshot(page, 'demo-mlp-augmented');

      // A bad value is named on the page, and training cannot start until it is fixed.
      await page.fill('#augment', 'rotate=200');
      await page.click('#reset');
      await page.waitForSelector('#train-status:has-text("rotate 200 exceeds 180 degrees")');
      expect(await page.locator('#start').isDisabled()).toBe(true);
      expect(await page.locator('#augment.invalid').count()).toBe(1);
      await page.fill('#augment', '');
      await page.click('#reset');
      await page.waitForFunction(() => document.body.dataset.train === 'idle' && !(document.querySelector('#start') as HTMLButtonElement).disabled);
      expect((await demoHooks<MlpHooks>(page)).augment).toBeUndefined();
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
