import { describe, expect, it } from 'vitest';
import type { ImageDataset } from '../../src/data/dataset.js';
import { mlpDiscriminator, mlpGenerator } from '../../src/models/gan.js';
import { Adam, SGD } from '../../src/optim/optimizers.js';
import { DivergenceError } from '../../src/gpu/errors.js';
import { fixedLatents, GanTrainer } from '../../src/train/gan.js';
import { decodeSafetensors } from '../../src/train/safetensors.js';
import { encodeGrayPng, imageGrid } from '../../src/train/png.js';
import { inflateSync } from 'node:zlib';
import { useEngine } from '../helpers/engine.js';
import { rng } from '../helpers/random.js';

const engine = useEngine();

/** 8×8 images of a bright vertical bar at a random column: an easy distribution to learn. */
function bars(count: number): ImageDataset {
  const next = rng(7);
  const images = new Uint8Array(count * 64);
  for (let i = 0; i < count; i++) {
    const col = Math.floor(next() * 8);
    for (let y = 0; y < 8; y++) images[i * 64 + y * 8 + col] = 255;
  }
  return { images, labels: new Uint8Array(count), count, height: 8, width: 8, classes: 1 };
}

const paramsOf = async (store: GanTrainer['generatorStore']) => Promise.all(store.list.map((p) => store.read(p.name)));

describe('GanTrainer', () => {
  it('alternates D and G steps, each training only its own network', async () => {
    const make = (lrG: number, lrD: number) =>
      new GanTrainer(engine(), {
        generator: mlpGenerator(4, [16], 64),
        discriminator: mlpDiscriminator(64, [16]),
        latent: 4,
        pixels: 64,
        optimizerG: new SGD({ lr: lrG }),
        optimizerD: new SGD({ lr: lrD }),
        seed: 1,
      });
    // With G's learning rate 0 only D may change, and the reverse.
    for (const [lrG, lrD, changes] of [[0, 0.1, 'D'], [0.1, 0, 'G']] as const) {
      const gan = make(lrG, lrD);
      const g0 = await paramsOf(gan.generatorStore);
      const d0 = await paramsOf(gan.discriminatorStore);
      await gan.fit(bars(64), { epochs: 1, batchSize: 16, iterations: 3 });
      const g1 = await paramsOf(gan.generatorStore);
      const d1 = await paramsOf(gan.discriminatorStore);
      const same = (a: Float32Array[], b: Float32Array[]) => a.every((t, i) => t.every((v, k) => v === b[i][k]));
      expect(same(g0, g1)).toBe(changes !== 'G');
      expect(same(d0, d1)).toBe(changes !== 'D');
      gan.dispose();
    }
  });

  it('spends no step on setting its constant targets: one iteration is one Adam step for each network', async () => {
    // Adam's first step moves every parameter by lr·|g|/(|g|+ε) ≤ lr; a second step would move
    // parameters whose gradient keeps its sign by up to 2·lr.
    const lr = 0.01;
    const gan = new GanTrainer(engine(), {
      generator: mlpGenerator(4, [16], 64),
      discriminator: mlpDiscriminator(64, [16]),
      latent: 4,
      pixels: 64,
      optimizerG: new Adam({ lr }),
      optimizerD: new Adam({ lr }),
      seed: 3,
    });
    try {
      const stores = [gan.generatorStore, gan.discriminatorStore];
      const before = await Promise.all(stores.map(paramsOf));
      await gan.fit(bars(64), { epochs: 1, batchSize: 16, iterations: 1 });
      const after = await Promise.all(stores.map(paramsOf));
      for (let s = 0; s < stores.length; s++) {
        let largest = 0;
        before[s].forEach((t, i) => t.forEach((v, k) => (largest = Math.max(largest, Math.abs(after[s][i][k] - v)))));
        expect(largest).toBeGreaterThan(0.9 * lr);
        expect(largest).toBeLessThanOrEqual(lr * (1 + 1e-4));
        expect(stores[s].optimizerSteps).toBe(1);
      }
    } finally {
      gan.dispose();
    }
  });

  it('learns: D separates real from fake at first, and G moves its samples towards the data', async () => {
    const gan = new GanTrainer(engine(), {
      generator: mlpGenerator(8, [32], 64),
      discriminator: mlpDiscriminator(64, [32]),
      latent: 8,
      pixels: 64,
      optimizerG: new Adam({ lr: 2e-3, beta1: 0.5 }),
      optimizerD: new Adam({ lr: 2e-3, beta1: 0.5 }),
      seed: 2,
    });
    const z = fixedLatents(16, 8, 3);
    const before = await gan.sample(z, 16);
    const progress: number[] = [];
    const history = await gan.fit(bars(256), { epochs: 3, batchSize: 32, onProgress: (p) => progress.push(p.dLoss), progressEvery: 4 });
    for (const e of history) {
      expect(Number.isFinite(e.dLoss) && Number.isFinite(e.gLoss)).toBe(true);
      expect(e.iterationsPerSec).toBeGreaterThan(0);
    }
    // An untrained D scores 2·ln 2 ≈ 1.386; it must do better on average in the first epoch.
    expect(history[0].dLoss).toBeLessThan(2 * Math.LN2);
    expect(progress.length).toBeGreaterThan(0);
    const after = await gan.sample(z, 16);
    const change = after.reduce((s, v, i) => s + Math.abs(v - before[i]), 0) / after.length;
    expect(change).toBeGreaterThan(0.05);
    // The data is mostly background (−1): G's samples must have moved towards dark images.
    const mean = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / a.length;
    expect(mean(after)).toBeLessThan(mean(before));
    const weights = decodeSafetensors(await gan.generatorCheckpoint()).tensors;
    expect([...weights.keys()]).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);
    gan.dispose();
  });

  it('rejects bad options before any GPU work', async () => {
    const gan = new GanTrainer(engine(), {
      generator: mlpGenerator(4, [8], 64),
      discriminator: mlpDiscriminator(64, [8]),
      latent: 4,
      pixels: 64,
      optimizerG: new SGD({ lr: 0.1 }),
      optimizerD: new SGD({ lr: 0.1 }),
    });
    const live = engine().stats.liveBuffers;
    const data = bars(32);
    await expect(gan.fit(data, { epochs: 0 })).rejects.toThrow(/^GanTrainer\.fit: epochs 0 must be a positive integer/);
    await expect(gan.fit(data, { epochs: 1, batchSize: 33 })).rejects.toThrow(/^GanTrainer\.fit: batch size 33 must be a positive integer no larger than the 32 training samples/);
    await expect(gan.fit(data, { epochs: 1, batchSize: 16, iterations: 0 })).rejects.toThrow(/^GanTrainer\.fit: iterations 0 must be a positive integer/);
    expect(engine().stats.liveBuffers).toBe(live);
    gan.dispose();
  });

  it('stops with a DivergenceError when a network diverges, its weights the last finite ones', async () => {
    const gan = new GanTrainer(engine(), {
      generator: mlpGenerator(4, [8], 64),
      discriminator: mlpDiscriminator(64, [8]),
      latent: 4,
      pixels: 64,
      optimizerG: new SGD({ lr: 0.01 }),
      optimizerD: new SGD({ lr: 1e30 }),
      seed: 3,
    });
    const error = await gan.fit(bars(64), { epochs: 2, batchSize: 16 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DivergenceError);
    expect((error as Error).message).toMatch(/^GanTrainer\.fit: .* became non-finite \(NaN or Inf\) at step \d+ \(epoch 1\)/);
    for (const store of [gan.generatorStore, gan.discriminatorStore]) {
      for (const p of store.list) expect((await store.read(p.name)).every(Number.isFinite)).toBe(true);
    }
    gan.dispose();
  });

  it('writes sample grids as valid PNG', async () => {
    const images = Float32Array.from({ length: 4 * 9 }, (_, i) => (i % 9) / 4 - 1);
    const grid = imageGrid(images, 4, 3, 3, 2);
    expect([grid.width, grid.height]).toEqual([12, 12]);
    const png = await encodeGrayPng(grid.pixels, grid.width, grid.height);
    expect([...png.subarray(1, 4)].map((c) => String.fromCharCode(c)).join('')).toBe('PNG');
    // IDAT holds the zlib stream of filtered rows: one filter byte then the pixels.
    const idat = png.indexOf(0x49, 33); // 'I' of IDAT after the 33-byte signature+IHDR
    const length = new DataView(png.buffer).getUint32(idat - 4);
    const raw = inflateSync(png.subarray(idat + 4, idat + 4 + length));
    expect(raw.length).toBe(12 * 13);
    expect([...raw.subarray(13 + 1, 13 + 13)]).toEqual([...grid.pixels.subarray(12, 24)]);
  });

  it('leaves no buffers alive', () => {
    expect(engine().stats.liveBuffers).toBe(0);
  });
});
