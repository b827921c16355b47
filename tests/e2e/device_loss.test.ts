import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright';
import { describe, expect, it } from 'vitest';
import { demoHooks, openDemo, screenshot, useChromium, useDemoServer } from './helpers/demo.js';

interface Hooks {
  state: string;
  steps: number;
  recoveries: number[];
  history: { step: number }[];
  evals: { step: number }[];
}

declare const window: { __demo: Hooks; __loseDevice?: () => void };

const server = useDemoServer();

/**
 * Waits until the page recovered from the device loss or failed; a failure fails the test with the
 * page's own message rather than a bare timeout.
 */
async function waitForRecovery(page: Page): Promise<void> {
  await page.waitForFunction(() => window.__demo.recoveries.length === 1 || document.body.dataset.state === 'error');
  const failure = await page.locator('#failure-text').allInnerTexts();
  expect(failure, 'the page failed instead of recovering').toEqual([]);
  expect((await demoHooks<Hooks>(page)).recoveries).toHaveLength(1);
}

// Tiny on purpose (SwiftShader): 10 batches of 32 per epoch, training from the start.
const QUERY = '?arch=16&train=320&test=100&batch=32&evalEvery=64&maxSteps=0&autostart=1';

describe('MLP demo when the GPU device is lost', () => {
  const browser = useChromium({ webgpu: true });

  it('resumes on a new device from its last snapshot and says so', async () => {
    const { page, errors, state } = await openDemo(browser(), `${server().url}mlp.html${QUERY}`);
    try {
      expect(state).toBe('ready');
      await page.waitForFunction(() => window.__demo.steps >= 24);
      await page.evaluate(() => window.__loseDevice!()); // as a driver reset would
      await waitForRecovery(page);
      const [from] = (await demoHooks<Hooks>(page)).recoveries;
      // Snapshots every 16 steps; the device went at step 24 or a chunk later.
      expect(from % 16).toBe(0);
      expect(from).toBeGreaterThanOrEqual(16);
      expect(await page.locator('#train-status').innerText()).toBe(`GPU lost — resumed from step ${from}.`);
      // Training goes on, on the new device.
      await page.waitForFunction((n) => window.__demo.steps >= n + 24, from);
      const hooks = await demoHooks<Hooks>(page);
      expect(hooks.state).toBe('running');
      expect(hooks.recoveries).toEqual([from]);
      // The history is continuous: the steps retrained after the snapshot are not counted twice.
      expect(hooks.history.map((m) => m.step)).toEqual(hooks.history.map((_, i) => i + 1));
      await screenshot(page, 'device-loss-mlp');
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });
});

describe('CNN demo when the GPU device is lost', () => {
  const browser = useChromium({ webgpu: true });

  it('resumes, and evaluates and draws feature maps on the new device', async () => {
    const { page, errors, state } = await openDemo(browser(), `${server().url}cnn.html?arch=4&train=320&test=100&batch=32&evalEvery=16&maxSteps=0&autostart=1`);
    try {
      expect(state).toBe('ready');
      await page.waitForFunction(() => window.__demo.steps >= 20);
      await page.evaluate(() => window.__loseDevice!());
      await waitForRecovery(page);
      const [from] = (await demoHooks<Hooks>(page)).recoveries;
      expect(await page.locator('#train-status').innerText()).toBe(`GPU lost — resumed from step ${from}.`);
      // An evaluation after the recovery redraws the weight views, the feature maps among them.
      await page.waitForFunction((n) => window.__demo.evals.some((e) => e.step > n), from);
      expect(await page.locator('#feature-maps').getAttribute('data-layers')).toBe('3');
      expect((await demoHooks<Hooks>(page)).state).toBe('running');
      await screenshot(page, 'device-loss-cnn');
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });
});

describe('auto-checkpoint snapshots in the browser', () => {
  const browser = useChromium({ webgpu: true });

  it('are written to IndexedDB and read back whole', async () => {
    const { page, state } = await openDemo(browser(), `${server().url}index.html`);
    try {
      expect(state).toBe('ready');
      // The module as the dev server serves any file of the repository.
      const module = `/@fs${fileURLToPath(new URL('../../src/train/snapshot_file.ts', import.meta.url))}`;
      // A string, so that the test runner leaves the page's dynamic import alone.
      const back = await page.evaluate(`(async () => {
        const { writeSnapshot, readSnapshot } = await import(${JSON.stringify(module)});
        const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) % 256);
        await writeSnapshot({ indexedDB: 'e2e run' }, bytes);
        const read = await readSnapshot({ indexedDB: 'e2e run' });
        const missing = await readSnapshot({ indexedDB: 'no such run' });
        return { same: !!read && read.length === bytes.length && read.every((v, i) => v === bytes[i]), missing: missing === undefined };
      })()`);
      expect(back).toEqual({ same: true, missing: true });
    } finally {
      await page.close();
    }
  });
});
