import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Rolldown } from 'vite';
import { afterAll, describe, expect, it } from 'vitest';
import * as api from '../../src/index.js';

type ErrorClass = new (...args: unknown[]) => Error;

/** The exports of a module that are classes whose instances are Errors, by exported name. */
function errorClassesOf(module: Record<string, unknown>): [string, ErrorClass][] {
  return Object.entries(module).filter(
    (entry): entry is [string, ErrorClass] => typeof entry[1] === 'function' && (entry[1] as ErrorClass).prototype instanceof Error,
  );
}

/** An instance made with placeholder arguments: every constructor takes at most four, none checks them. */
function instanceOf(cls: ErrorClass): Error {
  return Reflect.construct(cls, ['a', 'b', 'c', 'd']) as Error;
}

const root = join(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'webgpu-dl-error-names-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** src/index.ts bundled and minified the way an application's production build would (classes renamed). */
async function minifiedApi(): Promise<Record<string, unknown>> {
  const result = (await build({
    configFile: false,
    root,
    logLevel: 'silent',
    build: {
      write: false,
      minify: true,
      target: 'es2022',
      lib: { entry: join(root, 'src/index.ts'), formats: ['es'], fileName: () => 'minified.js' },
      rolldownOptions: { external: ['webgpu', /^node:/], output: { codeSplitting: false } },
    },
  })) as Rolldown.RolldownOutput[];
  const [chunk] = result[0].output.filter((o): o is Rolldown.OutputChunk => o.type === 'chunk');
  const file = join(work, 'minified.js');
  writeFileSync(file, chunk.code);
  return import(/* @vite-ignore */ pathToFileURL(file).href);
}

const KNOWN = ['WebGPUDLError', 'WebGPUUnavailableError', 'ShapeError', 'KernelError', 'DeviceLostError', 'DisposedError', 'BusyError', 'DivergenceError', 'DatasetError', 'CheckpointError', 'RecoveryError', 'FileWriteError'];

describe('error class names', () => {
  const exported = errorClassesOf(api);

  it('finds every error class the public API exports, all derived from WebGPUDLError', () => {
    expect(exported.map(([name]) => name)).toEqual(expect.arrayContaining(KNOWN));
    for (const [name, cls] of exported) expect(instanceOf(cls), name).toBeInstanceOf(api.WebGPUDLError);
  });

  it("gives each instance the exported name, so it prints as 'ShapeError: …'", () => {
    for (const [name, cls] of exported) {
      const error = instanceOf(cls);
      expect(error.name, name).toBe(name);
      expect(String(error).startsWith(`${name}: `), String(error)).toBe(true);
    }
  });

  it('keeps the names when a minifier renames the classes (a production build of an application)', async () => {
    const minified = errorClassesOf(await minifiedApi());
    expect(minified.map(([name]) => name).sort()).toEqual(exported.map(([name]) => name).sort());
    // The bundle really renamed them; otherwise this test would prove nothing.
    expect(minified.filter(([name, cls]) => cls.name === name).map(([name]) => name)).toEqual([]);
    for (const [name, cls] of minified) expect(instanceOf(cls).name, `${name} (minified as '${cls.name}')`).toBe(name);
  });
});
