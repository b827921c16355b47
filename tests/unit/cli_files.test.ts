import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { quantizeStateDict } from '../../src/compress/quantize.js';
import { encodeIdx } from '../../src/data/idx.js';
import { IDX_FILES } from '../../src/data/idx_files.js';
import { CheckpointError, decodeSafetensors, encodeSafetensors } from '../../src/train/safetensors.js';
import { runCli } from '../helpers/cli.js';
import { rng } from '../helpers/random.js';

const dir = mkdtempSync(join(tmpdir(), 'cli-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A tiny 4×4, 2-class dataset: the class is which half of the image is bright. */
function writeDataset(count: number, images: string, labels: string): void {
  const next = rng(count);
  const pixels = Uint8Array.from({ length: count * 16 }, (_, k) => (Math.floor((k % 16) / 8) === Math.floor(k / 16) % 2 ? 200 : 0) + Math.floor(next() * 50));
  writeFileSync(join(dir, images), encodeIdx([count, 4, 4], pixels));
  writeFileSync(join(dir, labels), encodeIdx([count], Uint8Array.from({ length: count }, (_, i) => i % 2)));
}
writeDataset(60, IDX_FILES.trainImages, IDX_FILES.trainLabels);
writeDataset(20, IDX_FILES.testImages, IDX_FILES.testLabels);

const run = runCli;

describe('CLI output files', () => {
  it('refuses an output path it could not write before loading data or training', async () => {
    const folder = join(dir, 'a-folder');
    mkdirSync(folder);
    mkdirSync(join(dir, 'samples.png'));
    mkdirSync(join(dir, 'c.optimizer.safetensors'));
    const missing = join(dir, 'missing', 'dir', 'w.safetensors');
    for (const [args, message] of [
      [['train', '--data', dir, '--epochs', '1', '--json', '--out', missing], `--out ${missing}: the folder ${join(dir, 'missing', 'dir')} does not exist; create it first`],
      [['train', '--data', dir, '--epochs', '1', '--json', '--out', folder], `--out ${folder}: is a folder; give a file name inside it`],
      // The companion files are checked too: the optimizer state, and the GAN's sample grid.
      [['train', '--data', dir, '--epochs', '1', '--json', '--out', join(dir, 'c.safetensors')], `--out ${join(dir, 'c.optimizer.safetensors')}: is a folder`],
      [['train', '--model', 'gan', '--data', dir, '--epochs', '1', '--json', '--out', join(dir, 'samples.safetensors')], `--out ${join(dir, 'samples.png')}: is a folder`],
      [['compress', '--weights', join(dir, 'none'), '--quantize', '--out', missing], `--out ${missing}: the folder`],
    ] as const) {
      const r = await run([...args]);
      expect(r.err, args.join(' ')).toEqual([expect.stringContaining(`webgpu-dl: ${message}`)]);
      expect(r.status).toBe(2);
      // Nothing ran: no engine line, no epoch.
      expect(r.out).toEqual([]);
    }
  });

  it('replaces an existing weights/optimizer pair whole, with one run id, leaving no temporary files', async () => {
    const folder = join(dir, 'pair');
    mkdirSync(folder);
    const out = join(folder, 'w.safetensors');
    writeFileSync(out, 'old weights');
    writeFileSync(join(folder, 'w.optimizer.safetensors'), 'old state');
    const r = await run(['train', '--data', dir, '--epochs', '1', '--batch', '20', '--json', '--out', out]);
    expect(r.status).toBe(0);
    expect(readdirSync(folder).sort()).toEqual(['w.optimizer.safetensors', 'w.safetensors']);
    const w = decodeSafetensors(new Uint8Array(readFileSync(out))).metadata;
    const s = decodeSafetensors(new Uint8Array(readFileSync(join(folder, 'w.optimizer.safetensors')))).metadata;
    expect([w.run_id, w.step]).toEqual([s.run_id, '3']);
    expect(s.step).toBe('3');
  });
});

describe('CLI checkpoint reads', () => {
  it('refuses --weights /dev/zero, a FIFO-like endless source, at once', async () => {
    const r = await run(['compress', '--weights', '/dev/zero', '--quantize', '--data', dir]);
    expect(r.err).toEqual(['webgpu-dl: --weights /dev/zero: is a device, not a regular file; give the path of a file']);
    expect(r.status).toBe(1);
  });

  it('refuses malformed weights and NaN weights before the engine starts, naming the tensor', async () => {
    const nan = join(dir, 'nan.safetensors');
    writeFileSync(nan, encodeSafetensors([{ name: '1.weight', shape: [2, 2], data: Float32Array.of(0, 1, Infinity, 3) }]));
    const bad = join(dir, 'bad.safetensors');
    const header = new TextEncoder().encode('{"1.weight":null}');
    writeFileSync(bad, Buffer.concat([new Uint8Array(new BigUint64Array([BigInt(header.length)]).buffer), header]));
    for (const [file, message] of [
      [nan, `webgpu-dl: --weights ${nan}: '1.weight' holds Infinity at index [1, 0] (flat 2); a weight must be a finite number`],
      [bad, `webgpu-dl: --weights ${bad}: '1.weight' is null; a tensor entry is an object with dtype, shape and data_offsets`],
    ]) {
      const r = await run(['compress', '--weights', file, '--quantize', '--data', dir]);
      expect(r.err).toEqual([message]);
      expect(r.out).toEqual([]);
      expect(r.status).toBe(1);
    }
  });

  it('quantisation refuses non-finite weights instead of storing garbage codes', () => {
    const tensors = [{ name: 'fc.weight', shape: [2, 2], data: Float32Array.of(1, 2, 3, NaN) }];
    expect(() => quantizeStateDict(tensors)).toThrow(CheckpointError);
    expect(() => quantizeStateDict(tensors)).toThrow("quantize: 'fc.weight' holds NaN at index [1, 1] (flat 3); a weight must be a finite number");
  });
});
