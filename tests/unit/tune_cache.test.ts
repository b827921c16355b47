import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { defaultTuneStore } from '../../src/gpu/autotune.js';

// The Node autotune cache is a file the engine did not necessarily write: it is read within a
// limit, malformed content is dropped, and writes replace it whole.
describe('autotune cache file', () => {
  let dir: string;
  let saved: string | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tune-cache-'));
    saved = process.env.WEBGPU_DL_TUNE_CACHE;
    process.env.WEBGPU_DL_TUNE_CACHE = join(dir, 'autotune.json');
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.WEBGPU_DL_TUNE_CACHE;
    else process.env.WEBGPU_DL_TUNE_CACHE = saved;
    rmSync(dir, { recursive: true, force: true });
  });
  const file = () => process.env.WEBGPU_DL_TUNE_CACHE!;

  it('keeps string entries and drops everything else', async () => {
    writeFileSync(file(), JSON.stringify({ a: 'x', b: 3, c: null, d: ['y'], __proto__: 'z' }));
    const store = await defaultTuneStore();
    expect(store.get('a')).toBe('x');
    expect(store.get('b')).toBeUndefined();
    expect(store.get('c')).toBeUndefined();
    expect(store.get('d')).toBeUndefined();
  });

  it.each([
    ['an array', '["a", "b"]'],
    ['null', 'null'],
    ['not JSON', '{"a": '],
    ['over the size limit', JSON.stringify({ a: 'x', pad: 'p'.repeat(2 << 20) })],
  ])('starts empty from %s', async (_what, text) => {
    writeFileSync(file(), text);
    const store = await defaultTuneStore();
    expect(store.get('a')).toBeUndefined();
    expect(store.get('0')).toBeUndefined();
  });

  it('starts empty when the path is a device or a folder, without hanging', async () => {
    process.env.WEBGPU_DL_TUNE_CACHE = '/dev/zero';
    expect((await defaultTuneStore()).get('a')).toBeUndefined();
    process.env.WEBGPU_DL_TUNE_CACHE = dir;
    expect((await defaultTuneStore()).get('a')).toBeUndefined();
  });

  it('writes the whole cache through a temporary file, last write last', async () => {
    const store = await defaultTuneStore();
    for (let i = 0; i < 20; i++) store.set(`k${i}`, `v${i}`);
    // Every intermediate file parses whole; the last one written holds all twenty entries.
    await vi.waitFor(() => expect(Object.keys(JSON.parse(readFileSync(file(), 'utf8')))).toHaveLength(20), { timeout: 10_000, interval: 20 });
    expect(JSON.parse(readFileSync(file(), 'utf8')).k19).toBe('v19');
    expect(readdirSync(dir)).toEqual(['autotune.json']);
    expect((await defaultTuneStore()).get('k7')).toBe('v7');
  });
});
