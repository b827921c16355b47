import { describe, expect, it } from 'vitest';
import type { Augmentation } from '../../src/data/augment.js';
import { isIdentityAugmentation } from '../../src/data/augment.js';
import type { ImageDataset } from '../../src/data/dataset.js';
import { GpuImageDataset, SYMMETRIC_RANGE, UNIT_RANGE, type BatcherOptions, type Normalisation } from '../../src/data/gpu_dataset.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { gatherBatchKernel } from '../../src/kernels/gather_batch.js';
import { expectClose } from '../helpers/compare.js';
import { useEngine } from '../helpers/engine.js';
import { integers, rng } from '../helpers/random.js';
import { affineDraw, gatherBatchRef, type AugmentRefParams } from '../reference/gather_batch.js';

const engine = useEngine();

/** Random bytes over the full range, so interpolation errors are not hidden by flat regions. */
function dataset(count: number, height: number, width: number, seed: number): ImageDataset {
  const next = rng(seed);
  const images = Uint8Array.from({ length: count * height * width }, () => Math.floor(next() * 256));
  const labels = Uint8Array.from(integers(count, 10, seed + 1));
  return { images, labels, count, height, width, classes: 10 };
}

function permutation(n: number, seed: number): Uint32Array {
  const next = rng(seed);
  const order = Uint32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

interface Gathered {
  x: Float32Array;
  y: Uint32Array;
}

/**
 * Uploads `data`, makes a batcher with `options`, and hands `use` a function that gathers one batch
 * (one submit per batch: a batcher's uniforms hold until its next encode) and reads it back.
 */
async function withBatcher(
  data: ImageDataset,
  batch: number,
  options: BatcherOptions & { normalisation?: Normalisation; order?: Uint32Array },
  use: (gather: (start: number, draw?: number) => Promise<Gathered>) => Promise<void>,
): Promise<void> {
  const e = engine();
  const pixels = data.height * data.width;
  const ds = new GpuImageDataset(e, data, options.normalisation ?? UNIT_RANGE);
  const x = e.createStorage(batch * pixels * 4, 'test x');
  const y = e.createStorage(batch * 4, 'test y');
  try {
    if (options.order) ds.setOrder(options.order);
    const batcher = await ds.batcher(batch, { buffer: x, offset: 0, size: batch * pixels * 4 }, { buffer: y, offset: 0, size: batch * 4 }, options);
    try {
      await use(async (start, draw = 0) => {
        const encoder = e.device.createCommandEncoder();
        batcher.encode(encoder, start, draw);
        e.device.queue.submit([encoder.finish()]);
        return {
          x: new Float32Array(await e.readBytes(x, batch * pixels * 4)),
          y: new Uint32Array(await e.readBytes(y, batch * 4)),
        };
      });
    } finally {
      batcher.dispose();
    }
  } finally {
    e.buffers.destroy(x);
    e.buffers.destroy(y);
    ds.dispose();
  }
}

describe('gather_batch with augmentation', () => {
  // Coordinates and bilinear weights in f32 against float64: a sample point is off by ~1e-6 pixel
  // on 28×28 and a pixel step spans at most 1/std after normalisation; measured worst 3e-6/std.
  const tolerance = (n: Normalisation) => ({ atol: 1e-5 / n.std, rtol: 0 });

  const cases: { h: number; w: number; count: number; batch: number; augment: Augmentation; norm: Normalisation }[] = [
    { h: 5, w: 7, count: 10, batch: 3, augment: { shift: 2, rotate: 180, scale: 0.5 }, norm: UNIT_RANGE },
    { h: 1, w: 1, count: 5, batch: 3, augment: { shift: 0.9, rotate: 90, scale: 0.9 }, norm: UNIT_RANGE },
    { h: 28, w: 28, count: 40, batch: 33, augment: { shift: 3, rotate: 15, scale: 0.2 }, norm: SYMMETRIC_RANGE },
    { h: 7, w: 5, count: 4, batch: 1, augment: { rotate: 45 }, norm: UNIT_RANGE },
    { h: 28, w: 28, count: 3, batch: 1, augment: { scale: 0.3 }, norm: UNIT_RANGE },
    // Rows wider than one invocation's segment of 32 pixels.
    { h: 3, w: 37, count: 7, batch: 2, augment: { shift: 2, rotate: 30, scale: 0.1 }, norm: UNIT_RANGE },
  ];
  for (const c of cases) {
    it(`matches the float64 reference on ${c.h}×${c.w} images, batch ${c.batch} of ${c.count}, ${JSON.stringify(c.augment)}`, async () => {
      const data = dataset(c.count, c.h, c.w, c.h * 100 + c.w);
      const order = permutation(c.count, c.count);
      const seed = 2 ** 40 + 12345;
      await withBatcher(data, c.batch, { augment: c.augment, seed, normalisation: c.norm, order }, async (gather) => {
        // Starts near the end of the order wrap around to its beginning.
        for (const [start, draw] of [[0, 0], [c.count - 1, 1], [Math.floor(c.count / 2), 77], [c.count - 2, 0xffffffff]]) {
          const got = await gather(start, draw);
          const a: AugmentRefParams = { seed, draw, shift: c.augment.shift ?? 0, rotate: c.augment.rotate ?? 0, scale: c.augment.scale ?? 0 };
          const want = gatherBatchRef(data.images, data.labels, order, { height: c.h, width: c.w, batch: c.batch, start, ...c.norm }, a);
          expectClose(got.x, want.x, tolerance(c.norm), `x at start ${start}, draw ${draw}`);
          // Labels travel with their samples, untouched.
          expect([...got.y], `labels at start ${start}`).toEqual([...want.y]);
        }
      });
    });
  }

  it('plain gather equals the reference, and an identity augmentation is the plain kernel, bit for bit', async () => {
    const data = dataset(9, 5, 7, 3);
    const order = permutation(9, 4);
    let plain: Gathered[] = [];
    await withBatcher(data, 4, { order }, async (gather) => {
      plain = [await gather(0), await gather(7)];
      const want = gatherBatchRef(data.images, data.labels, order, { height: 5, width: 7, batch: 4, start: 7, ...UNIT_RANGE });
      expectClose(plain[1].x, want.x, { atol: 1e-6, rtol: 0 }, 'plain x');
      expect([...plain[1].y]).toEqual([...want.y]);
    });
    for (const augment of [{}, { shift: 0, rotate: 0, scale: 0 }, { rotate: 0 }]) {
      expect(isIdentityAugmentation(augment)).toBe(true);
      await withBatcher(data, 4, { augment, seed: 5, order }, async (gather) => {
        const got = [await gather(0, 3), await gather(7, 4)];
        for (let k = 0; k < 2; k++) {
          expect(Array.from(got[k].x)).toEqual(Array.from(plain[k].x));
          expect(Array.from(got[k].y)).toEqual(Array.from(plain[k].y));
        }
      });
    }
    // The augmented kernel itself, forced with all ranges 0, also reproduces the plain values exactly.
    const e = engine();
    const upload = (bytes: Uint8Array | Uint32Array) => {
      const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
      padded.set(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      const b = e.createStorage(padded.byteLength, 'test input');
      e.upload(b, padded);
      return b;
    };
    const inputs = [upload(data.images), upload(data.labels), upload(order)];
    const x = e.createStorage(4 * 35 * 4, 'x');
    const y = e.createStorage(16, 'y');
    const spec = gatherBatchKernel({ batch: 4, pixels: 35, count: 9, ...UNIT_RANGE, augment: { height: 5, width: 7, seed: 1, shift: 0, rotate: 0, scale: 0 } }, 7, 9);
    expect(spec.name).toBe('gather_batch_augment');
    e.dispatch(spec, [...inputs, x, y]);
    expect(Array.from(new Float32Array(await e.readBytes(x, 4 * 35 * 4)))).toEqual(Array.from(plain[1].x));
    expect(Array.from(new Uint32Array(await e.readBytes(y, 16)))).toEqual(Array.from(plain[1].y));
    for (const b of [...inputs, x, y]) e.buffers.destroy(b);
  });

  it('draws fresh transforms per draw and per row, reproducibly from the seed', async () => {
    const data = dataset(6, 9, 11, 8);
    const augment = { shift: 2, rotate: 20, scale: 0.2 };
    let first: Gathered | undefined;
    await withBatcher(data, 6, { augment, seed: 42 }, async (gather) => {
      first = await gather(0, 10);
      const again = await gather(0, 10);
      expect(Array.from(again.x)).toEqual(Array.from(first.x));
      const next = await gather(0, 11);
      expect(Array.from(next.x)).not.toEqual(Array.from(first.x));
      expect(Array.from(next.y)).toEqual(Array.from(first.y));
    });
    await withBatcher(data, 6, { augment, seed: 42 }, async (gather) => {
      expect(Array.from((await gather(0, 10)).x)).toEqual(Array.from(first!.x));
    });
    await withBatcher(data, 6, { augment, seed: 43 }, async (gather) => {
      expect(Array.from((await gather(0, 10)).x)).not.toEqual(Array.from(first!.x));
    });
  });

  it('a pure shift moves pixels by whole pixels exactly, filling with background', async () => {
    const [h, w, batch] = [6, 8, 12];
    const data = dataset(batch, h, w, 21);
    const seed = 7;
    const draw = 3;
    let plain: Float32Array | undefined;
    await withBatcher(data, batch, {}, async (gather) => {
      plain = (await gather(0)).x;
    });
    // Background (byte 0) normalised by the same f32 expression as every other pixel.
    const background = await (async () => {
      const blank = { ...data, images: new Uint8Array(data.images.length) };
      let v = NaN;
      await withBatcher(blank, 1, {}, async (gather) => {
        v = (await gather(0)).x[0];
      });
      return v;
    })();
    await withBatcher(data, batch, { augment: { shift: 2 }, seed }, async (gather) => {
      const got = (await gather(0, draw)).x;
      const shifts = new Set<string>();
      for (let b = 0; b < batch; b++) {
        const { dx, dy } = affineDraw({ seed, draw, shift: 2, rotate: 0, scale: 0 }, b);
        expect(Math.abs(dx) <= 2 && Math.abs(dy) <= 2).toBe(true);
        shifts.add(`${dx},${dy}`);
        const want = new Float32Array(h * w);
        for (let r = 0; r < h; r++) {
          for (let c = 0; c < w; c++) {
            const [sr, sc] = [r - dy, c - dx];
            want[r * w + c] = sr >= 0 && sr < h && sc >= 0 && sc < w ? plain![b * h * w + sr * w + sc] : background;
          }
        }
        expect(Array.from(got.subarray(b * h * w, (b + 1) * h * w)), `row ${b}, shift (${dx}, ${dy})`).toEqual(Array.from(want));
      }
      // The rows really moved, in several different ways.
      expect(shifts.size).toBeGreaterThan(3);
    });
  });

  it('rejects bad augmentations with a ShapeError before any GPU work', async () => {
    const e = engine();
    const data = dataset(4, 5, 7, 1);
    const ds = new GpuImageDataset(e, data, UNIT_RANGE);
    const x = { buffer: e.createStorage(4 * 35 * 4, 'x'), offset: 0, size: 4 * 35 * 4 };
    const y = { buffer: e.createStorage(16, 'y'), offset: 0, size: 16 };
    const live = e.stats.liveBuffers;
    const bad: [Augmentation | Record<string, number>, RegExp][] = [
      [{ shift: -1 }, /^augment: shift -1 must be a number ≥ 0 .*e\.g\. shift: 2$/],
      [{ rotate: NaN }, /^augment: rotate NaN must be a number ≥ 0 .*e\.g\. rotate: 10$/],
      [{ shift: 5 }, /^augment: shift 5 reaches the image size 5×7; use a shift below 5 pixels$/],
      [{ rotate: 181 }, /^augment: rotate 181 exceeds 180 degrees/],
      [{ scale: 1 }, /^augment: scale 1 must be below 1.*e\.g\. scale: 0\.1$/],
      [{ shear: 3 }, /^augment: unknown option 'shear'; the options are shift/],
    ];
    for (const [augment, message] of bad) {
      const attempt = ds.batcher(4, x, y, { augment: augment as Augmentation });
      await expect(attempt).rejects.toThrow(ShapeError);
      await expect(attempt).rejects.toThrow(message);
    }
    await expect(ds.batcher(4, x, y, { augment: { shift: 1 }, seed: -3 })).rejects.toThrow(/augment: seed -3 must be an integer/);
    expect(e.stats.liveBuffers).toBe(live);
    const batcher = await ds.batcher(4, x, y, { augment: { shift: 1 } });
    const encoder = e.device.createCommandEncoder();
    expect(() => batcher.encode(encoder, 0, -1)).toThrow(/stream\/step -1 must be an integer in \[0, 2\^32\)/);
    expect(() => batcher.encode(encoder, 0, 1.5)).toThrow(ShapeError);
    encoder.finish();
    batcher.dispose();
    e.buffers.destroy(x.buffer);
    e.buffers.destroy(y.buffer);
    ds.dispose();
  });

  it('leaves no buffers alive', () => {
    expect(engine().stats.liveBuffers).toBe(0);
  });
});
