import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileWriteError, outputPathProblem, writeFileAtomically, writeFilesAtomically } from '../../src/io/atomic_write.js';

const dir = mkdtempSync(join(tmpdir(), 'atomic-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Bytes that differ at every position between calls, so a partial overwrite cannot go unseen. */
const pattern = (length: number, seed: number) => Uint8Array.from({ length }, (_, i) => (i * 31 + seed * 17 + (i >> 8)) & 0xff);

/** A folder holding an old weights file and its old companion, and what they hold. */
function oldPair(name: string) {
  const folder = join(dir, name);
  mkdirSync(folder);
  const weights = { path: join(folder, 'w.safetensors'), old: pattern(1_300_000, 1), next: pattern(1_200_000, 2) };
  const state = { path: join(folder, 'w.optimizer.safetensors'), old: pattern(2_100_000, 3), next: pattern(2_300_000, 4) };
  writeFileSync(weights.path, weights.old);
  writeFileSync(state.path, state.old);
  const write = (fault?: Parameters<typeof writeFilesAtomically>[1]) =>
    writeFilesAtomically([{ path: weights.path, data: weights.next }, { path: state.path, data: state.next }], fault);
  const expectOld = () => {
    expect(Buffer.compare(readFileSync(weights.path), weights.old)).toBe(0);
    expect(Buffer.compare(readFileSync(state.path), state.old)).toBe(0);
  };
  return { folder, weights, state, write, expectOld };
}

const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });

describe('atomic writes', () => {
  it('replaces both files of a pair', async () => {
    const p = oldPair('ok');
    await p.write();
    expect(Buffer.compare(readFileSync(p.weights.path), p.weights.next)).toBe(0);
    expect(Buffer.compare(readFileSync(p.state.path), p.state.next)).toBe(0);
    expect(readdirSync(p.folder).sort()).toEqual(['w.optimizer.safetensors', 'w.safetensors']);
  });

  it('leaves both old files intact, byte for byte, when the disk fills inside either file', async () => {
    // Inside the first file's second chunk, and inside the second file (after the whole first one).
    for (const afterBytes of [1_100_000, 1_200_000 + 1_500_000, 0]) {
      const p = oldPair(`enospc-${afterBytes}`);
      const error = await p.write({ fault: { afterBytes, error: enospc() } }).catch((e) => e);
      expect(error).toBeInstanceOf(FileWriteError);
      expect(error.code).toBe('ENOSPC');
      expect(error.message).toMatch(/w(\.optimizer)?\.safetensors: could not be written \(ENOSPC: the disk is full\); the file there, if any, is unchanged/);
      p.expectOld();
      // No temporary file is left behind.
      expect(readdirSync(p.folder).sort()).toEqual(['w.optimizer.safetensors', 'w.safetensors']);
    }
  });

  it('leaves both old files intact when the process stops mid-write, as a kill would', async () => {
    for (const afterBytes of [10, 1_200_000, 1_200_000 + 2_299_999]) {
      const p = oldPair(`stop-${afterBytes}`);
      const error = await p.write({ fault: { afterBytes, stop: true } }).catch((e) => e);
      expect(error).toBeInstanceOf(FileWriteError);
      expect(error.code).toBe('STOPPED');
      p.expectOld();
      // A killed process cleans nothing up: the partial temporary file is there, apart from the targets.
      const temps = readdirSync(p.folder).filter((f) => f.endsWith('.tmp'));
      expect(temps.length).toBeGreaterThan(0);
      expect(temps.every((f) => f.startsWith('.w.'))).toBe(true);
    }
  });

  it('creates a new file, and writes an empty one', async () => {
    const path = join(dir, 'new.json');
    await writeFileAtomically(path, new TextEncoder().encode('{"a":1}'));
    expect(readFileSync(path, 'utf8')).toBe('{"a":1}');
    await writeFileAtomically(path, new Uint8Array(0));
    expect(readFileSync(path).length).toBe(0);
  });

  it('fails with a typed error naming the path when the folder is missing, leaving nothing', async () => {
    const error = await writeFileAtomically(join(dir, 'nowhere', 'w.safetensors'), Uint8Array.of(1)).catch((e) => e);
    expect(error).toBeInstanceOf(FileWriteError);
    expect(error.message).toMatch(/nowhere\/w\.safetensors: could not be written/);
  });

  it('says why a path cannot take an output file', async () => {
    expect(await outputPathProblem(join(dir, 'fresh.safetensors'))).toBeUndefined();
    writeFileSync(join(dir, 'existing.safetensors'), 'x');
    expect(await outputPathProblem(join(dir, 'existing.safetensors'))).toBeUndefined();
    expect(await outputPathProblem(join(dir, 'missing', 'dir', 'w.safetensors'))).toMatch(/the folder .*missing\/dir does not exist; create it first/);
    expect(await outputPathProblem(dir)).toMatch(/is a folder/);
    expect(await outputPathProblem(join(dir, 'existing.safetensors', 'w'))).toMatch(/existing\.safetensors is not a folder/);
    expect(await outputPathProblem('/dev/null')).toMatch(/not a regular file/);
    symlinkSync(join(dir, 'existing.safetensors'), join(dir, 'link.safetensors'));
    expect(await outputPathProblem(join(dir, 'link.safetensors'))).toBe('is a symbolic link; give the path of the file it points to');
  });
});
