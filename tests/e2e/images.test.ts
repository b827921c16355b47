import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeCifarBatch } from '../../src/data/cifar.js';
import { gzip, tarOf } from '../../src/data/cifar_archive.js';
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
const { PNG } = createRequire(import.meta.url)('pngjs');
const root = mkdtempSync(join(tmpdir(), 'images-demo-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Pure-colour RGB images (class c is colour c) with per-image brightness noise, as planar bytes. */
const COLOURS = [[220, 40, 40], [40, 200, 60], [50, 70, 230]];
function colourImages(count: number, seed: number): { images: Uint8Array; labels: Uint8Array } {
  const images = new Uint8Array(count * 3 * 1024);
  const labels = Uint8Array.from({ length: count }, (_, i) => i % 3);
  for (let i = 0; i < count; i++) {
    const jitter = ((i * 37 + seed) % 41) - 20;
    for (let c = 0; c < 3; c++) images.fill(Math.max(0, Math.min(255, COLOURS[labels[i]][c] + jitter)), (i * 3 + c) * 1024, (i * 3 + c + 1) * 1024);
  }
  return { images, labels };
}

/** CIFAR-10's distribution layout: cifar-10-batches-bin/{data_batch_1.bin, test_batch.bin, batches.meta.txt}, tarred and gzipped. */
async function writeCifarTarGz(): Promise<string> {
  const batch = (count: number, seed: number) => encodeCifarBatch({ ...colourImages(count, seed), count, height: 32, width: 32, channels: 3, classes: 3 });
  const files = new Map([
    ['cifar-10-batches-bin/data_batch_1.bin', batch(192, 1)],
    ['cifar-10-batches-bin/test_batch.bin', batch(30, 2)],
    ['cifar-10-batches-bin/batches.meta.txt', new TextEncoder().encode('red\ngreen\nblue\n')],
  ]);
  const path = join(root, 'cifar-10-binary.tar.gz');
  writeFileSync(path, await gzip(tarOf(files)));
  return path;
}

/** A folder of class folders of 48×40 PNGs (scaled to 32×32 by the page): mydata/<colour>/<n>.png. */
function writeFolder(): string {
  const dir = join(root, 'mydata');
  COLOURS.forEach(([r, g, b], c) => {
    const name = ['crimson', 'lime', 'navy'][c];
    mkdirSync(join(dir, name), { recursive: true });
    for (let n = 0; n < 20; n++) {
      const png = new PNG({ width: 48, height: 40 });
      for (let p = 0; p < 48 * 40; p++) png.data.set([r, g, b, 255], p * 4);
      writeFileSync(join(dir, name, `${String(n).padStart(2, '0')}.png`), PNG.sync.write(png));
    }
  });
  return dir;
}

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

  it('reads a CIFAR-10 tar.gz and a folder of class folders, with their class names, and trains on them', async () => {
    const { page, errors, state } = await openDemo(browser(), `${server().url}images.html?depth=8&width=4&batch=32&train=3000&test=500&evalEvery=8&maxSteps=16&augment=`);
    try {
      expect(state).toBe('ready');
      await page.waitForFunction(() => document.body.dataset.train === 'idle');
      const note = page.locator('#data-note');
      await page.setInputFiles('#archive-file', await writeCifarTarGz());
      await page.waitForFunction(() => /cifar-10-binary\.tar\.gz: 192 training and 30 test images/.test(document.querySelector('#data-note')?.textContent ?? ''));
      await page.click('#reset');
      await page.waitForFunction(() => document.body.dataset.train === 'idle' && (window as unknown as { __demo: ImagesHooks }).__demo.evals.length === 1);
      let hooks = await demoHooks<ImagesHooks>(page);
      expect(hooks.classNames).toEqual(['red', 'green', 'blue']);
      expect(hooks.evals[0].confusion).toHaveLength(3);
      expect(await page.locator('#confusion tr').first().innerText()).toMatch(/red\s+green\s+blue/);
      await page.click('#start');
      await page.waitForFunction(() => document.body.dataset.train === 'done');
      hooks = await demoHooks<ImagesHooks>(page);
      expect(hooks.evals.map((e) => e.step)).toEqual([0, 8, 16]);
      expect(hooks.evals[2].confusion.flat().reduce((a, b) => a + b, 0)).toBe(30);
      expect(hooks.evals[2].loss).toBeLessThan(hooks.evals[0].loss);
      // A folder of class folders: names sorted, every tenth image of each class held out for testing.
      await page.setInputFiles('#folder-input', writeFolder());
      await page.waitForFunction(() => /3 classes \(crimson, lime, navy\): 54 training and 6 test images, scaled to 32×32/.test(document.querySelector('#data-note')?.textContent ?? ''));
      await page.click('#reset');
      await page.waitForFunction(() => document.body.dataset.train === 'idle' && (window as unknown as { __demo: ImagesHooks }).__demo.evals.length === 1);
      hooks = await demoHooks<ImagesHooks>(page);
      expect(hooks.classNames).toEqual(['crimson', 'lime', 'navy']);
      expect(hooks.grid.map((g) => g.label)).toEqual([0, 0, 1, 1, 2, 2]);
      expect(await note.innerText()).toMatch(/crimson/);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 300_000);
});
