import { describe, expect, it } from 'vitest';
import { distill } from '../../src/compress/distill.js';
import type { ImageDataset } from '../../src/data/dataset.js';
import { BusyError, DisposedError } from '../../src/gpu/errors.js';
import { mlpDiscriminator, mlpGenerator } from '../../src/models/gan.js';
import { Linear, ReLU, Sequential } from '../../src/nn/layers.js';
import { Adam, SGD } from '../../src/optim/optimizers.js';
import { GanTrainer } from '../../src/train/gan.js';
import { Trainer } from '../../src/train/trainer.js';
import { useEngine } from '../helpers/engine.js';
import { rng } from '../helpers/random.js';

const engine = useEngine();

/** `count` random 8×8 images with labels 0–3. */
function tiny(count: number, seed = 3): ImageDataset {
  const next = rng(seed);
  const images = Uint8Array.from({ length: count * 64 }, () => Math.floor(next() * 256));
  const labels = Uint8Array.from({ length: count }, () => Math.floor(next() * 4));
  return { images, labels, count, height: 8, width: 8, classes: 4 };
}

const makeTrainer = (seed = 1) =>
  new Trainer(engine(), { model: new Sequential(new Linear(64, 8), ReLU(), new Linear(8, 4)), inputShape: [64], classes: 4, optimizer: new Adam({ lr: 1e-2 }), seed });

describe('Trainer lifecycle', () => {
  it('dispose() from onProgress stops fit, frees every buffer and leaves no rejection behind, twice in a row', async () => {
    const data = tiny(160);
    for (let round = 0; round < 2; round++) {
      const baseline = engine().stats.liveBuffers;
      const trainer = makeTrainer(round);
      const reports: number[] = [];
      const epochs: number[] = [];
      const history = await trainer.fit(data, {
        epochs: 3,
        batchSize: 8,
        progressEvery: 2,
        evaluate: data,
        onEpoch: (r) => epochs.push(r.epoch),
        onProgress: (p) => {
          reports.push(p.epoch * 100 + p.step);
          // The second epoch's first report disposes: the first epoch is finished and reported.
          if (p.epoch === 2) trainer.dispose();
        },
      });
      expect(history.map((r) => r.epoch)).toEqual([1]);
      expect(epochs).toEqual([1]);
      // Nothing reported after the dispose but what was already in flight; far from all 60 steps.
      expect(reports.filter((r) => r >= 200).length).toBeGreaterThan(0);
      expect(reports.length).toBeLessThan(30);
      expect(engine().stats.liveBuffers).toBe(baseline);
      await expect(trainer.fit(data, { epochs: 1, batchSize: 8 })).rejects.toThrow(DisposedError);
      await expect(trainer.evaluate(data)).rejects.toThrow(/Trainer\.evaluate: the Trainer was disposed/);
      await expect(trainer.predict(data.images.subarray(0, 64), 1)).rejects.toThrow(DisposedError);
      trainer.dispose(); // a second dispose is harmless
    }
  });

  it('dispose() before the first step leaves an empty history', async () => {
    const baseline = engine().stats.liveBuffers;
    const trainer = makeTrainer();
    const fit = trainer.fit(tiny(64), { epochs: 2, batchSize: 8 });
    trainer.dispose();
    expect(await fit).toEqual([]);
    expect(engine().stats.liveBuffers).toBe(baseline);
  });

  it('refuses a second fit while one runs, and lets the first finish alone', async () => {
    const data = tiny(64);
    const concurrent = makeTrainer(4);
    const first = concurrent.fit(data, { epochs: 2, batchSize: 8 });
    await expect(concurrent.fit(data, { epochs: 1, batchSize: 8 })).rejects.toThrow(BusyError);
    await expect(concurrent.profile(data, { batchSize: 8 })).rejects.toThrow(/Trainer\.profile: this Trainer is already training/);
    await first;
    // The same run alone: the refused calls changed nothing.
    const alone = makeTrainer(4);
    await alone.fit(data, { epochs: 2, batchSize: 8 });
    for (const p of alone.store.list) expect(Array.from(await concurrent.store.read(p.name))).toEqual(Array.from(await alone.store.read(p.name)));
    // Once it has finished, fitting again is allowed.
    expect(await concurrent.fit(data, { epochs: 1, batchSize: 8 })).toHaveLength(1);
    concurrent.dispose();
    alone.dispose();
  });

  it('a throwing onProgress fails fit with its own error and frees the loop', async () => {
    const trainer = makeTrainer();
    await trainer.fit(tiny(16), { epochs: 1, batchSize: 8 }); // parameters and optimizer state exist
    const baseline = engine().stats.liveBuffers;
    const fit = trainer.fit(tiny(160), { epochs: 2, batchSize: 8, progressEvery: 2, onProgress: () => { throw new RangeError('from the callback'); } });
    await expect(fit).rejects.toThrow('from the callback');
    expect(engine().stats.liveBuffers).toBe(baseline);
    trainer.dispose();
  });
});

describe('GanTrainer and distill lifecycle', () => {
  it('GanTrainer: dispose() from onProgress stops fit and frees everything; a concurrent fit is refused', async () => {
    const data = tiny(128);
    for (let round = 0; round < 2; round++) {
      const baseline = engine().stats.liveBuffers;
      const gan = new GanTrainer(engine(), {
        generator: mlpGenerator(4, [8], 64),
        discriminator: mlpDiscriminator(64, [8]),
        latent: 4,
        pixels: 64,
        optimizerG: new SGD({ lr: 0.01 }),
        optimizerD: new SGD({ lr: 0.01 }),
        seed: round,
      });
      const fit = gan.fit(data, { epochs: 3, batchSize: 8, progressEvery: 2, onProgress: (p) => p.epoch === 2 && gan.dispose() });
      await expect(gan.fit(data, { epochs: 1, batchSize: 8 })).rejects.toThrow(/GanTrainer\.fit: this GanTrainer is already training/);
      expect((await fit).map((e) => e.epoch)).toEqual([1]);
      expect(engine().stats.liveBuffers).toBe(baseline);
      await expect(gan.sample(new Float32Array(4), 1)).rejects.toThrow(DisposedError);
    }
  });

  it('distill: disposing the teacher stops the loop; the student is busy meanwhile and usable after', async () => {
    const data = tiny(160);
    const baseline = engine().stats.liveBuffers;
    const student = makeTrainer(2);
    const teacher = makeTrainer(3);
    const run = distill(engine(), data, {
      student,
      teacher,
      temperature: 2,
      alpha: 0.5,
      epochs: 3,
      batchSize: 8,
      progressEvery: 2,
      onProgress: (p) => p.epoch === 2 && teacher.dispose(),
    });
    await expect(student.fit(data, { epochs: 1, batchSize: 8 })).rejects.toThrow(BusyError);
    expect((await run).map((e) => e.epoch)).toEqual([1]);
    expect((await student.fit(data, { epochs: 1, batchSize: 8 })).length).toBe(1);
    student.dispose();
    expect(engine().stats.liveBuffers).toBe(baseline);
  });
});
