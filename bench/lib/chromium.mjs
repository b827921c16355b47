// Launching Chromium with WebGPU and serving a Vite root from localhost; shared by the benchmark
// (bench/run.mjs) and the end-to-end tests (tests/e2e). Plain JS so Node runs it without a build;
// types in chromium.d.mts.
import { chromium } from 'playwright';
import { createServer } from 'vite';

/** Debian's chromium; Playwright's own browser download is not needed. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Quiet, sandbox-free headless Chromium (the sandbox needs user namespaces that root in a container lacks). */
export const BASE_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/**
 * WebGPU on Linux is behind --enable-unsafe-webgpu; with no GPU, SwiftShader (Vulkan on the CPU)
 * supplies the adapter, which Chromium offers only when told it may.
 */
export const WEBGPU_ARGS = ['--enable-unsafe-webgpu', '--enable-unsafe-swiftshader', '--use-webgpu-adapter=swiftshader'];

/**
 * Headless Chromium. With `webgpu: false` the unsafe flags are left out: navigator.gpu still
 * exists but requestAdapter() resolves to null, as on a machine whose GPU Chrome does not support.
 */
export async function launchChromium({ webgpu = true, args = [] } = {}) {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...(webgpu ? WEBGPU_ARGS : []), ...BASE_ARGS, ...args],
    timeout: 60_000,
  });
}

/**
 * A Vite dev server on a free port of localhost (WebGPU needs a secure context, which
 * http://localhost is). `config` is a Vite inline config, e.g. { configFile: 'demos/vite.config.ts' }.
 */
export async function startVite(config = {}) {
  const server = await createServer({
    logLevel: 'warn',
    clearScreen: false,
    ...config,
    server: { port: 0, strictPort: false, host: 'localhost', hmr: false, ...(config.server ?? {}) },
  });
  await server.listen();
  const url = server.resolvedUrls?.local[0];
  if (!url) {
    await server.close();
    throw new Error('vite: the dev server reported no local URL');
  }
  return { server, url, port: new URL(url).port, close: () => server.close() };
}

/**
 * Calls `onError(text)` for every console error and uncaught exception of `page`; returns the list
 * collected so far (live).
 */
export function watchErrors(page, onError = () => {}) {
  const errors = [];
  const record = (text) => {
    errors.push(text);
    onError(text);
  };
  page.on('console', (message) => {
    if (message.type() === 'error') record(`console.error: ${message.text()}`);
  });
  page.on('pageerror', (error) => record(`uncaught: ${error.stack ?? error.message}`));
  return errors;
}
