import type { Page } from 'playwright';
import { describe, expect, it } from 'vitest';
import { demoHooks, openDemo, screenshot, useChromium, useDemoServer, type OpenedPage } from './helpers/demo.js';

interface TextHooks {
  state: string;
  steps: number;
  history: { step: number; loss: number }[];
  evals: { step: number; trainLoss: number; valLoss: number }[];
  samples: { step: number; prompt: string; text: string; temperature: number }[];
  built?: { parameters: number; vocab: string[]; characters: number; trainCharacters: number };
  attention?: { step: number; layer: number; head: number; characters: number; rowSums: number[]; maxLogitDifference: number };
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

// The small default model at context 16 and batch 8: each step costs tens of ms on SwiftShader.
const STEPS = 120;
const QUERY = `?layers=2&heads=2&dim=32&context=16&batch=16&lr=0.006&evalEvery=60&sampleEvery=60&maxSteps=${STEPS}&tokens=40&evalWindows=32&attentionPrompt=return%20x;&temperature=0.5`;

describe('Text demo', () => {
  const browser = useChromium({ webgpu: true });

  it('trains a character transformer on the bundled source: loss falls, samples change, attention is shown, no main-thread GPU', async () => {
    const context = await browser().newContext();
    await context.addInitScript(countMainThreadGpu);
    const { page, errors, state }: OpenedPage = await openDemo(context as never, `${server().url}text.html${QUERY}`);
    try {
      expect(state).toBe('ready');
      expect(await page.locator('#adapter-summary').innerText()).toMatch(/swiftshader/i);
      await page.waitForFunction(() => document.body.dataset.train === 'idle');
      const built = (await demoHooks<TextHooks>(page)).built!;
      // The bundled text is the library's own source: code characters, tens of thousands of them.
      expect(built.vocab).toEqual(expect.arrayContaining(['{', '}', '(', ';', 'e']));
      expect(built.characters).toBeGreaterThan(50_000);
      await page.click('#start');
      await page.waitForFunction(() => document.body.dataset.train === 'done', undefined, { timeout: 150_000 });
      await waitForAttention(page, STEPS);
      const hooks = await demoHooks<TextHooks>(page);
      expect(hooks.steps).toBe(STEPS);
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      // The first batches sit near ln(vocab); the last ones well below.
      expect(mean(hooks.history.slice(-5).map((h) => h.loss))).toBeLessThan(mean(hooks.history.slice(0, 3).map((h) => h.loss)) * 0.8);
      const [first, last] = [hooks.evals[0], hooks.evals.at(-1)!];
      expect(first.step).toBe(0);
      expect(last.step).toBe(STEPS);
      expect(last.valLoss).toBeLessThan(first.valLoss - 0.5);
      expect(last.trainLoss).toBeLessThan(first.trainLoss - 0.5);
      // A sample at step 0 (untrained), at 60 and at the end: each continues the prompt, and they differ.
      expect(hooks.samples.map((s) => s.step)).toEqual([0, 60, STEPS]);
      for (const s of hooks.samples) expect(Array.from(s.text)).toHaveLength(40);
      expect(new Set(hooks.samples.map((s) => s.text)).size).toBe(3);
      expect(await page.locator('#samples .sample-entry').count()).toBe(3);
      // The attention view: a causal pattern (rows of probabilities) from the CPU forward, which agrees with the GPU's logits.
      const a = hooks.attention!;
      expect(a.characters).toBe('return x;'.length);
      for (const sum of a.rowSums) expect(sum).toBeCloseTo(1, 6);
      expect(a.maxLogitDifference).toBeLessThan(2e-3);
      await page.selectOption('#attention-layer', '1');
      await page.selectOption('#attention-head', '1');
      expect(await page.evaluate(() => (window as unknown as { __demo: TextHooks }).__demo.attention?.layer)).toBe(1);
      // The temperature field reaches the worker's sampling.
      for (const s of hooks.samples) expect(s.temperature).toBe(0.5);
      // Generate now, at the temperature the slider gives.
      await page.fill('#temperature', '0.1');
      await page.click('#generate');
      await page.waitForFunction(() => (window as unknown as { __demo: TextHooks }).__demo.samples.length === 4);
      const extra = (await demoHooks<TextHooks>(page)).samples[3];
      expect(extra).toMatchObject({ step: STEPS, temperature: 0.1, prompt: 'export function ' });
      expect(Array.from(extra.text)).toHaveLength(40);
      // Save and load: the downloaded checkpoint loads back into the run and evaluates to the same losses.
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#save-file')]);
      expect(download.suggestedFilename()).toMatch(/^transformer-2x32-step120\.safetensors$/);
      await page.setInputFiles('#load-file', (await download.path())!);
      await page.waitForFunction(() => document.querySelector('#checkpoint-status')?.getAttribute('data-loaded') === '1');
      const reloaded = (await demoHooks<TextHooks>(page)).evals.at(-1)!;
      expect(reloaded.step).toBe(STEPS);
      expect(reloaded.valLoss).toBeCloseTo(last.valLoss, 5);
      expect(await page.evaluate(() => (window as unknown as { __gpuCalls: GpuCalls }).__gpuCalls)).toEqual({ requestAdapter: 0, requestDevice: 0, submit: 0 });
      await screenshot(page, 'demo-text');
      // A chosen text file becomes the training text (applied on Reset).
      const poem = 'the quick brown fox jumps over the lazy dog\n'.repeat(50);
      await page.setInputFiles('#text-file', { name: 'poem.txt', mimeType: 'text/plain', buffer: Buffer.from(poem) });
      await page.waitForFunction(() => /Training text: poem\.txt, 2,200 characters\./.test(document.querySelector('#source-note')?.textContent ?? ''));
      // A pasted text too short for a window in each split is refused in the status line, naming the fix.
      await page.fill('#text-input', 'abc');
      await page.click('#reset');
      await page.waitForFunction(() => document.querySelector('#train-status')?.getAttribute('data-error') === 'true');
      expect(await page.locator('#train-status').innerText()).toMatch(/Cannot train on pasted text: .*the text has 3 characters.*give a text of at least \d+ characters, or a smaller context/);
      expect(await page.locator('#start').isDisabled()).toBe(true);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 300_000);
});

async function waitForAttention(page: Page, step: number): Promise<void> {
  await page.waitForFunction((s) => (window as unknown as { __demo: TextHooks }).__demo.attention?.step === s, step);
}
