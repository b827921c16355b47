import { describe, expect, it } from 'vitest';
import { parseAugmentation, type Augmentation } from '../../src/data/augment.js';
import type { ImageDataset } from '../../src/data/dataset.js';
import { GpuImageDataset, SYMMETRIC_RANGE, type BatcherOptions } from '../../src/data/gpu_dataset.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { gatherBatchKernel } from '../../src/kernels/gather_batch.js';
import { expectClose } from '../helpers/compare.js';
import { useEngine } from '../helpers/engine.js';
import { integers, rng } from '../helpers/random.js';
import { affineDraw, gatherBatchRef } from '../reference/gather_batch.js';

const engine = useEngine();
const STATS = { mean: [0.49, 0.48, 0.45], std: [0.25, 0.24, 0.26] };

/** Random RGB bytes [count, 3, h, w] over the full range, with per-channel statistics. */
function rgbDataset(count: number, height: number, width: number, seed: number): ImageDataset {
  const next = rng(seed);
  const images = Uint8Array.from({ length: count * 3 * height * width }, () => Math.floor(next() * 256));
  const labels = Uint8Array.from(integers(count, 10, seed + 1));
  return { images, labels, count, height, width, channels: 3, classes: 10, channelNormalisation: STATS };
}

/** Gathers one batch of `data` from `start` with `draw` and reads it back. */
async function gatherOnce(data: ImageDataset, batch: number, start: number, draw: number, options: BatcherOptions): Promise<{ x: Float32Array; y: Uint32Array }> {
  const e = engine();
  const values = batch * data.height * data.width * (data.channels ?? 1);
  const ds = new GpuImageDataset(e, data);
  const x = e.createStorage(values * 4, 'x');
  const y = e.createStorage(batch * 4, 'y');
  try {
    const batcher = await ds.batcher(batch, { buffer: x, offset: 0, size: values * 4 }, { buffer: y, offset: 0, size: batch * 4 }, options);
    const encoder = e.device.createCommandEncoder();
    batcher.encode(encoder, start, draw);
    e.device.queue.submit([encoder.finish()]);
    const out = { x: new Float32Array(await e.readBytes(x, values * 4)), y: new Uint32Array(await e.readBytes(y, batch * 4)) };
    batcher.dispose();
    return out;
  } finally {
    e.buffers.destroy(x);
    e.buffers.destroy(y);
    ds.dispose();
  }
}

const identityOrder = (n: number) => Uint32Array.from({ length: n }, (_, i) => i);

describe('gather_batch on RGB images', () => {
  it('normalises each channel plane with its own mean and std (plain gather)', async () => {
    const data = rgbDataset(7, 5, 6, 3);
    const got = await gatherOnce(data, 4, 5, 0, {});
    const want = gatherBatchRef(data.images, data.labels, identityOrder(7), { height: 5, width: 6, batch: 4, start: 5, channels: 3, ...STATS });
    expectClose(got.x, want.x, { atol: 2e-6, rtol: 1e-6 }, 'x');
    expect([...got.y]).toEqual([...want.y]);
  });

  const cases: Augmentation[] = [{ crop: 4, flip: true }, { crop: 1 }, { flip: true }, { rotate: 30, scale: 0.2, flip: true }, { shift: 2, flip: true }];
  for (const augment of cases) {
    it(`matches the float64 reference with ${JSON.stringify(augment)}, every channel moved alike`, async () => {
      // 33 wide: rows longer than one invocation's segment of 32 pixels.
      const data = rgbDataset(9, 8, 33, 11);
      const seed = 2 ** 35 + 7;
      for (const [start, draw] of [[0, 0], [8, 5], [3, 0xfffffffe]]) {
        const got = await gatherOnce(data, 6, start, draw, { augment, seed });
        const a = { seed, draw, shift: augment.shift ?? 0, rotate: augment.rotate ?? 0, scale: augment.scale ?? 0, crop: augment.crop, flip: augment.flip };
        const want = gatherBatchRef(data.images, data.labels, identityOrder(9), { height: 8, width: 33, batch: 6, start, channels: 3, ...STATS }, a);
        expectClose(got.x, want.x, { atol: 5e-5, rtol: 0 }, `x at start ${start}, draw ${draw}`);
        expect([...got.y]).toEqual([...want.y]);
      }
    });
  }

  it('crop offsets cover −crop … crop and about half the rows are mirrored', () => {
    const offsets = new Set<number>();
    let flipped = 0;
    const rows = 400;
    for (let b = 0; b < rows; b++) {
      const d = affineDraw({ seed: 9, draw: 2, shift: 0, rotate: 0, scale: 0, crop: 4, flip: true }, b);
      offsets.add(d.dx).add(d.dy);
      if (d.flipped) flipped++;
    }
    expect([...offsets].sort((a, b) => a - b)).toEqual([-4, -3, -2, -1, 0, 1, 2, 3, 4]);
    expect(flipped).toBeGreaterThan(rows * 0.4);
    expect(flipped).toBeLessThan(rows * 0.6);
  });

  it('crop and flip are exact whole-pixel moves: an unmirrored, uncropped row equals the plain gather', async () => {
    const data = rgbDataset(16, 6, 6, 5);
    const plain = await gatherOnce(data, 16, 0, 0, {});
    const got = await gatherOnce(data, 16, 0, 1, { augment: { crop: 2, flip: true }, seed: 3 });
    const per = 3 * 36;
    let checked = 0;
    for (let b = 0; b < 16; b++) {
      const d = affineDraw({ seed: 3, draw: 1, shift: 0, rotate: 0, scale: 0, crop: 2, flip: true }, b);
      if (d.dx !== 0 || d.dy !== 0) continue;
      const row = [...got.x.subarray(b * per, (b + 1) * per)];
      const source = plain.x.subarray(b * per, (b + 1) * per);
      // Mirrored rows read column 5 − c; others are the plain bytes, bit for bit.
      const want = row.map((_, i) => (d.flipped ? source[i - (i % 6) + 5 - (i % 6)] : source[i]));
      expect(row).toEqual(want);
      checked++;
    }
    expect(checked).toBeGreaterThan(0);
  });

  it('refuses bad crops, flips and per-channel lists with a ShapeError', async () => {
    const e = engine();
    const data = rgbDataset(4, 5, 7, 1);
    const ds = new GpuImageDataset(e, data);
    const x = { buffer: e.createStorage(4 * 105 * 4, 'x'), offset: 0, size: 4 * 105 * 4 };
    const y = { buffer: e.createStorage(16, 'y'), offset: 0, size: 16 };
    const bad: [unknown, RegExp][] = [
      [{ crop: 2, shift: 1 }, /crop 2 and shift 1 both translate the image; give one of them/],
      [{ crop: 1.5 }, /crop 1\.5 must be a whole number of pixels/],
      [{ crop: 5 }, /crop 5 reaches the image size 5×7/],
      [{ flip: 1 }, /flip 1 must be true or false/],
    ];
    for (const [augment, message] of bad) await expect(ds.batcher(4, x, y, { augment: augment as Augmentation })).rejects.toThrow(message);
    expect(() => gatherBatchKernel({ batch: 1, pixels: 105, count: 4, channels: 3, mean: [0, 0], std: 1 })).toThrow(/mean \[0, 0\] has 2 values for 3-channel images/);
    expect(() => gatherBatchKernel({ batch: 1, pixels: 105, count: 4, channels: 2, mean: 0, std: 1 })).toThrow(ShapeError);
    // The dataset's own statistics and a normalisation option would normalise twice.
    const twice = new GpuImageDataset(e, data, SYMMETRIC_RANGE);
    await expect(twice.batcher(4, x, y)).rejects.toThrow(/per-channel normalisation .* leave the normalisation option out/);
    twice.dispose();
    ds.dispose();
    e.buffers.destroy(x.buffer);
    e.buffers.destroy(y.buffer);
    expect(e.stats.liveBuffers).toBe(0);
  });

  it('parses crop=4,flip=1 from the command-line form', () => {
    expect(parseAugmentation('crop=4,flip=1')).toEqual({ crop: 4, flip: true });
    expect(() => parseAugmentation('flip=2')).toThrow(/flip=2 must be 0 or 1/);
  });
});
