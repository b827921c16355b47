import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DatasetError } from '../../src/data/idx.js';
import { readFileWithin } from '../../src/io/read_bounded.js';
import { CheckpointError } from '../../src/train/safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'bounded-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const options = { limit: 1000, limitName: 'TEST_LIMIT', error: CheckpointError };

describe('bounded reads', () => {
  it('reads a regular file exactly', async () => {
    const path = join(dir, 'ok.bin');
    writeFileSync(path, Uint8Array.of(1, 2, 3));
    expect([...(await readFileWithin(path, options))]).toEqual([1, 2, 3]);
    writeFileSync(join(dir, 'empty.bin'), new Uint8Array(0));
    expect((await readFileWithin(join(dir, 'empty.bin'), options)).length).toBe(0);
  });

  it('refuses endless or sizeless sources at once: /dev/zero, a FIFO, a folder', async () => {
    const fifo = join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    for (const [path, kind] of [['/dev/zero', 'a device'], [fifo, 'a FIFO'], [dir, 'a folder']]) {
      const error = await readFileWithin(path, { ...options, label: `--weights ${path}` }).catch((e) => e);
      expect(error).toBeInstanceOf(CheckpointError);
      expect(error.message).toBe(`--weights ${path}: is ${kind}, not a regular file; give the path of a file`);
    }
  });

  it('refuses a file over the limit before reading it, naming the limit', async () => {
    const path = join(dir, 'big.bin');
    writeFileSync(path, new Uint8Array(1001));
    await expect(readFileWithin(path, { ...options, error: DatasetError })).rejects.toThrow(
      new DatasetError(`${path}: the file holds 1001 bytes, over the limit of 1000 (TEST_LIMIT)`),
    );
  });

  it('reports a missing file, or resolves to undefined when told to', async () => {
    const path = join(dir, 'none.bin');
    await expect(readFileWithin(path, options)).rejects.toThrow(new CheckpointError(`${path}: no such file`));
    expect(await readFileWithin(path, { ...options, missingOk: true })).toBeUndefined();
  });
});
