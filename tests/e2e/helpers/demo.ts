import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright';
import { afterAll, beforeAll } from 'vitest';
import { launchChromium, startVite, watchErrors, type ViteHandle } from '../../../bench/lib/chromium.mjs';

const repo = fileURLToPath(new URL('../../..', import.meta.url));

/** Screenshots land here (gitignored). */
export const RESULTS_DIR = resolve(repo, 'test-results');

/** Bounds for every wait on the browser: SwiftShader compiles shaders on the same two cores as the tests. */
export const PAGE_TIMEOUT_MS = 90_000;

/**
 * The demo app's dev server for the tests of one file, closed after them. `allowedHosts` lets a test
 * reach it under another name (to see the page outside a secure context).
 */
export function useDemoServer(options: { allowedHosts?: string[] } = {}): () => ViteHandle {
  let handle: ViteHandle | undefined;
  beforeAll(async () => {
    handle = await startVite({
      configFile: resolve(repo, 'demos/vite.config.ts'),
      server: { allowedHosts: options.allowedHosts },
    });
  });
  afterAll(async () => {
    await handle?.close();
    handle = undefined;
  });
  return () => {
    if (!handle) throw new Error('demo server not started');
    return handle;
  };
}

/**
 * One headless Chromium for the tests of a describe block, closed after them. `args` may be a
 * function, called at launch, for flags that depend on a server started by then.
 */
export function useChromium(options: { webgpu?: boolean; args?: string[] | (() => string[]) } = {}): () => Browser {
  let browser: Browser | undefined;
  beforeAll(async () => {
    const args = typeof options.args === 'function' ? options.args() : options.args;
    browser = await launchChromium({ webgpu: options.webgpu, args });
  });
  afterAll(async () => {
    await browser?.close();
    browser = undefined;
  });
  return () => {
    if (!browser) throw new Error('browser not launched');
    return browser;
  };
}

/** The address the server really listens on, as Chromium's --host-resolver-rules wants it. */
export function listeningAddress(handle: ViteHandle): string {
  const address = handle.server.httpServer?.address();
  if (!address || typeof address === 'string') throw new Error('demo server has no TCP address');
  return address.family === 'IPv6' ? `[${address.address}]` : address.address;
}

export interface OpenedPage {
  page: Page;
  /** Console errors and uncaught exceptions seen so far. */
  errors: string[];
  /** The value of <body data-state> once it left 'loading'. */
  state: string;
}

/**
 * Opens `url` in a fresh page and waits until the demo sets <body data-state> to something other
 * than 'loading' (every demo page does: 'ready', 'unavailable' or 'error').
 */
export async function openDemo(browser: Browser, url: string): Promise<OpenedPage> {
  const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
  page.setDefaultTimeout(PAGE_TIMEOUT_MS);
  const errors = watchErrors(page);
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForFunction(() => document.body.dataset.state && document.body.dataset.state !== 'loading');
  const state = (await page.evaluate(() => document.body.dataset.state)) ?? '';
  return { page, errors, state };
}

/** Saves a full-page screenshot as test-results/<name>.png and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = resolve(RESULTS_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** The state a demo page publishes for tests as `window.__demo` (a structured clone of it). */
export async function demoHooks<T>(page: Page): Promise<T> {
  return page.evaluate(() => (window as unknown as { __demo: unknown }).__demo) as Promise<T>;
}
