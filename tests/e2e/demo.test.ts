import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { listeningAddress, openDemo, screenshot, useChromium, useDemoServer } from './helpers/demo.js';

// A name that is not localhost, resolved to the local server by Chromium: http:// from it is not a
// secure context, so the browser hides navigator.gpu.
const INSECURE_HOST = 'webgpu-dl.test';

const server = useDemoServer({ allowedHosts: [INSECURE_HOST] });

describe('landing page with WebGPU', () => {
  const browser = useChromium({ webgpu: true });

  it('shows the adapter and the result of relu, without console errors', async () => {
    const { page, errors, state } = await openDemo(browser(), server().url);
    try {
      expect(errors).toEqual([]);
      expect(state).toBe('ready');
      const info = await page.locator('#adapter-info').innerText();
      expect(info).toMatch(/Vendor/);
      expect(info).toMatch(/software \(CPU\) adapter|hardware GPU/);
      // WEBGPU_ARGS force the SwiftShader adapter, whatever GPU the machine has.
      expect(info.toLowerCase()).toMatch(/swiftshader|google/);
      expect(await page.locator('#adapter-limits').innerText()).toMatch(/maxStorageBufferBindingSize/);
      const values = JSON.parse((await page.locator('#kernel-output').getAttribute('data-values')) ?? 'null');
      expect(values).toEqual([0, 0, 0, 0.25, 1.5, 3]);
      expect(await page.locator('#help').isVisible()).toBe(false);
      const links = await page.locator('#demos a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
      expect(links).toEqual(['./mlp.html', './cnn.html', './gan.html', './text.html', './images.html', './bench.html']);
      expect(existsSync(await screenshot(page, 'demo-index'))).toBe(true);
    } finally {
      await page.close();
    }
  });
});

describe('landing page without a WebGPU adapter', () => {
  const browser = useChromium({ webgpu: false });

  it('explains why and how to enable WebGPU', async () => {
    const { page, errors, state } = await openDemo(browser(), server().url);
    try {
      expect(state).toBe('unavailable');
      expect(errors).toEqual([]);
      const help = page.locator('#help');
      expect(await help.isVisible()).toBe(true);
      const text = await help.innerText();
      expect(text).toMatch(/no GPU adapter was found/);
      expect(text).toMatch(/Chrome or Edge 113/);
      expect(text).toMatch(/--enable-unsafe-webgpu/);
      expect(text).toMatch(/chrome:\/\/flags/);
      expect(await page.locator('#adapter').isVisible()).toBe(false);
      await screenshot(page, 'demo-index-no-adapter');
    } finally {
      await page.close();
    }
  });
});

describe('demo pages without a WebGPU adapter', () => {
  const browser = useChromium({ webgpu: false });

  it.each(['mlp', 'cnn', 'gan'])('%s.html shows the help card instead of a blank page', async (name) => {
    const { page, errors, state } = await openDemo(browser(), `${server().url}${name}.html`);
    try {
      expect(state).toBe('unavailable');
      expect(errors).toEqual([]);
      const help = page.locator('#help');
      expect(await help.isVisible()).toBe(true);
      expect(await help.innerText()).toMatch(/--enable-unsafe-webgpu/);
      expect(await page.locator('#adapter-summary').innerText()).toBe('No WebGPU adapter.');
    } finally {
      await page.close();
    }
  });
});

describe('landing page outside a secure context', () => {
  const browser = useChromium({
    webgpu: true,
    args: () => [`--host-resolver-rules=MAP ${INSECURE_HOST} ${listeningAddress(server())}`],
  });

  it('says that WebGPU needs https:// or localhost', async () => {
    const url = new URL(server().url);
    url.hostname = INSECURE_HOST;
    const { page, errors, state } = await openDemo(browser(), url.href);
    try {
      expect(await page.evaluate(() => [window.isSecureContext, 'gpu' in navigator])).toEqual([false, false]);
      expect(state).toBe('unavailable');
      expect(errors).toEqual([]);
      expect(await page.locator('#help-reason').innerText()).toMatch(/not a secure context.*http:\/\/localhost/);
      await screenshot(page, 'demo-index-insecure');
    } finally {
      await page.close();
    }
  });
});
