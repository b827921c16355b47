import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openDemo, screenshot, useChromium, useDemoServer } from './helpers/demo.js';

interface SharedWorkload {
  id: string;
  unit: string;
  ours: number | null;
  tfjs: number | null;
  ratio: number | null;
  target?: number;
  oursAccuracy?: number;
  tfjsAccuracy?: number;
}

interface BenchHooks {
  result?: { adapter: Record<string, unknown>; mode: string; date: string; workloads: SharedWorkload[] };
  link?: string;
  source?: string;
}

const server = useDemoServer();

// Quick mode on SwiftShader: both engines train on the CPU, sharing the machine's cores.
const RUN_TIMEOUT_MS = 900_000;

describe('benchmark page', () => {
  const browser = useChromium({ webgpu: true });

  it('measures both engines in quick mode, reports the JSON result, and its link shows the same result', { timeout: RUN_TIMEOUT_MS + 120_000 }, async () => {
    const { page, errors, state } = await openDemo(browser(), `${server().url}bench.html?quick=1`);
    try {
      expect(state).toBe('ready');
      expect(await page.locator('#quick').isChecked()).toBe(true);
      await page.click('#run');
      await page.waitForFunction(() => ['done', 'failed'].includes(document.body.dataset.bench ?? ''), undefined, { timeout: RUN_TIMEOUT_MS });
      expect(errors).toEqual([]);
      expect(await page.evaluate(() => document.body.dataset.bench)).toBe('done');
      const hooks = (await page.evaluate(() => (window as unknown as { __bench: unknown }).__bench)) as BenchHooks;
      const result = hooks.result!;

      // The JSON the page shows is the result, in the harness's schema.
      const shown = JSON.parse(await page.locator('#result-json').innerText());
      expect(shown).toEqual(result);
      expect(result.mode).toBe('quick');
      expect(String(result.adapter.description).toLowerCase() + String(result.adapter.vendor).toLowerCase()).toMatch(/swiftshader|google/);
      expect(result.adapter.software).toBe(true);
      expect(result.adapter.sameAdapter).toBe(true);
      const ids = result.workloads.map((w) => w.id);
      expect(ids).toEqual(['W1-matmul-256', 'W2-mlp-b32', 'W3-cnn-b4', 'W4-gan-b16', 'T-mlp-80', 'T-cnn-50']);
      for (const w of result.workloads) {
        expect(Object.keys(w)).toEqual(expect.arrayContaining(['id', 'unit', 'ours', 'tfjs', 'ratio']));
        if (w.unit === 's') {
          // Both sides reached the quick target within their time limit.
          expect(w.oursAccuracy).toBeGreaterThanOrEqual(w.target!);
          expect(w.tfjsAccuracy).toBeGreaterThanOrEqual(w.target!);
        } else {
          expect(['GFLOP/s', 'samples/s', 'iterations/s']).toContain(w.unit);
        }
        expect(w.ours).toBeGreaterThan(0);
        expect(w.tfjs).toBeGreaterThan(0);
        const ratio = w.unit === 's' ? w.tfjs! / w.ours! : w.ours! / w.tfjs!;
        expect(w.ratio).toBeCloseTo(ratio, 2 - Math.ceil(Math.log10(Math.max(ratio, 1e-3))));
      }
      expect(await page.locator('#results tbody tr').count()).toBe(result.workloads.length);
      expect(existsSync(await screenshot(page, 'bench-quick'))).toBe(true);

      // The link carries the result: opened in a fresh page it shows the same, without running.
      expect(hooks.link).toMatch(/bench\.html\?quick=1#result=/);
      expect(await page.locator('#share-link').inputValue()).toBe(hooks.link);
      const shared = await openDemo(browser(), hooks.link!);
      try {
        expect(shared.state).toBe('ready');
        const again = (await shared.page.evaluate(() => (window as unknown as { __bench: unknown }).__bench)) as BenchHooks;
        expect(again.source).toBe('shared');
        expect(again.result).toEqual(result);
        expect(await shared.page.locator('#results tbody tr').count()).toBe(result.workloads.length);
        expect(await shared.page.locator('#results-title').innerText()).toMatch(/Shared result/);
        expect(shared.errors).toEqual([]);
      } finally {
        await shared.page.close();
      }
    } finally {
      await page.close();
    }
  });

  it('says what is wrong with a link whose result was cut short', async () => {
    const { page, state } = await openDemo(browser(), `${server().url}bench.html#result=eyJhZGFwdGVy`);
    try {
      expect(state).toBe('error');
      expect(await page.locator('#failure-text').innerText()).toMatch(/cannot be read \(was it cut short\?\)/);
    } finally {
      await page.close();
    }
  });
});
