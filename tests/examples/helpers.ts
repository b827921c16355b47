import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright';
import { preview, type PreviewServer } from 'vite';

export const repo = fileURLToPath(new URL('../..', import.meta.url));

/** The tarball every example's package.json names (`file:../../webgpu-dl-<version>.tgz`). */
export const tarballPath = (() => {
  const { name, version } = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { name: string; version: string };
  return join(repo, `${name}-${version}.tgz`);
})();

export const exampleDir = (name: string): string => join(repo, 'examples', name);

export interface RunResult {
  code: number;
  output: string;
}

/**
 * Runs a command to completion and returns its exit code and its stdout and stderr together. Never
 * rejects on a non-zero exit: callers assert on the code with the output in view.
 */
export function run(command: string, args: readonly string[], cwd: string, timeoutMs = 240_000): Promise<RunResult> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, npm_config_update_notifier: 'false' } });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', fail);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      done({ code: code ?? (signal ? 128 : 1), output: signal ? `${output}\n[killed by ${signal} after ${timeoutMs} ms]` : output });
    });
  });
}

/**
 * The packed package, as `npm pack` makes it for a user (building dist/ first, through `prepack`).
 * WEBGPU_DL_TARBALL names a tarball packed already (say, from a clean copy of the repository).
 */
export async function packTarball(): Promise<RunResult> {
  const given = process.env.WEBGPU_DL_TARBALL;
  if (given) {
    if (resolve(given) !== tarballPath) copyFileSync(given, tarballPath);
    return { code: 0, output: `using ${given}` };
  }
  return run('npm', ['pack', '--pack-destination', repo], repo);
}

/**
 * Installs an example's dependencies as a user would, after `npm pack`: its package.json names the
 * tarball by path. The lock file and the installed copy of webgpu-dl are removed first, so the new
 * tarball is taken; everything else comes from npm's cache where it can.
 */
export function installExample(dir: string): Promise<RunResult> {
  const wanted = `file:../../${basename(tarballPath)}`;
  const named = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }).dependencies?.['webgpu-dl'];
  if (named !== wanted) return Promise.resolve({ code: 1, output: `${dir}/package.json: webgpu-dl is '${named}', expected '${wanted}' (the tarball npm pack writes)` });
  rmSync(join(dir, 'package-lock.json'), { force: true });
  rmSync(join(dir, 'node_modules', 'webgpu-dl'), { recursive: true, force: true });
  return run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline'], dir);
}

/** Paths of compiled native add-ons (`*.node`) under `dir`, searched to `depth` folders down. */
export function nativeAddons(dir: string, depth = 8): string[] {
  if (depth < 0 || !existsSync(dir)) return [];
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...nativeAddons(path, depth - 1));
    else if (entry.isFile() && entry.name.endsWith('.node')) found.push(path);
  }
  return found;
}

/**
 * The packages an app ships at run time: `npm ls --omit=dev`, as folders under its node_modules
 * (what a bundler may draw from; vite and typescript are build tools, left out).
 */
export async function runtimePackages(dir: string): Promise<string[]> {
  const { code, output } = await run('npm', ['ls', '--omit=dev', '--all', '--parseable'], dir);
  if (code !== 0) throw new Error(`npm ls failed in ${dir}:\n${output}`);
  return output
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.includes('node_modules') && statSync(line, { throwIfNoEntry: false })?.isDirectory());
}

/** Serves a built web example's dist/ on a free port of localhost (a secure context for WebGPU). */
export async function serveBuilt(dir: string): Promise<{ url: string; close: () => Promise<void> }> {
  const configFile = ['vite.config.ts', 'vite.config.js'].map((f) => join(dir, f)).find((f) => existsSync(f)) ?? false;
  const server: PreviewServer = await preview({
    root: dir,
    configFile,
    logLevel: 'warn',
    preview: { port: 0, strictPort: false, host: 'localhost' },
  });
  const url = server.resolvedUrls?.local[0];
  if (!url) {
    await server.close();
    throw new Error(`vite preview of ${dir} reported no local URL`);
  }
  return { url, close: () => server.close() };
}

/**
 * Waits until an example page sets <body data-state> to 'done' or 'error' and returns that state
 * and the text of its #result element.
 */
export async function pageOutcome(page: Page, timeoutMs: number): Promise<{ state: string; result: string }> {
  await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state ?? ''), undefined, { timeout: timeoutMs });
  return page.evaluate(() => ({
    state: document.body.dataset.state ?? '',
    result: document.querySelector('#result')?.textContent ?? '',
  }));
}

/** The percentage in a line such as `test accuracy 97.3%`, or NaN when there is none. */
export function accuracyIn(text: string): number {
  const match = /test accuracy (\d+(?:\.\d+)?)%/.exec(text);
  return match ? Number(match[1]) : Number.NaN;
}
