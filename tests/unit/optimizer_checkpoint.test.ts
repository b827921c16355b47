import { describe, expect, it } from 'vitest';
import type { ImageDataset } from '../../src/data/dataset.js';
import { Linear, ReLU, Sequential } from '../../src/nn/layers.js';
import { Adam, SGD, type Optimizer } from '../../src/optim/optimizers.js';
import { decodeSafetensors } from '../../src/train/safetensors.js';
import { Trainer } from '../../src/train/trainer.js';
import { useEngine } from '../helpers/engine.js';
import { expectClose } from '../helpers/compare.js';
import { rng } from '../helpers/random.js';

const engine = useEngine();

/** 48 random 8×8 images in 4 classes, the class brightening one quadrant so there is something to learn. */
function quadrants(): ImageDataset {
  const next = rng(5);
  const count = 48;
  const images = new Uint8Array(count * 64);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    labels[i] = i % 4;
    for (let p = 0; p < 64; p++) {
      const quadrant = (Math.floor(p / 32) << 1) | (p % 8 >= 4 ? 1 : 0);
      images[i * 64 + p] = Math.floor(next() * 128) + (quadrant === labels[i] ? 127 : 0);
    }
  }
  return { images, labels, count, height: 8, width: 8, classes: 4 };
}

const data = quadrants();
const make = (optimizer: Optimizer, seed = 2) =>
  new Trainer(engine(), { model: new Sequential(new Linear(64, 16), ReLU(), new Linear(16, 4)), inputShape: [64], classes: 4, optimizer, seed });
const weights = (t: Trainer) => Promise.all(t.store.list.map((p) => t.store.read(p.name)));
// One full batch per epoch: the update does not depend on the shuffle, so runs split across fits compare.
const epoch = { epochs: 1, batchSize: data.count };

describe('optimizer checkpoints', () => {
  it('resume training exactly: weights + optimizer state after 2 steps match 4 uninterrupted steps', async () => {
    const whole = make(new Adam({ lr: 0.05 }));
    await whole.fit(data, { ...epoch, epochs: 4 });
    const first = make(new Adam({ lr: 0.05 }));
    await first.fit(data, { ...epoch, epochs: 2 });
    const savedWeights = await first.checkpoint();
    const savedState = await first.optimizerCheckpoint();

    const resumed = make(new Adam({ lr: 0.05 }), 9);
    resumed.load(savedWeights);
    resumed.loadOptimizer(savedState);
    expect(resumed.store.optimizerSteps).toBe(2);
    await resumed.fit(data, { ...epoch, epochs: 2 });
    // Without the state Adam restarts its moments and bias correction: a visibly different path.
    const restarted = make(new Adam({ lr: 0.05 }), 9);
    restarted.load(savedWeights);
    await restarted.fit(data, { ...epoch, epochs: 2 });

    const [w, r, s] = [await weights(whole), await weights(resumed), await weights(restarted)];
    w.forEach((t, i) => expectClose(r[i], t, { atol: 1e-5, rtol: 1e-4 }, `resumed ${whole.store.list[i].name}`));
    const gap = Math.max(...w.map((t, i) => Math.max(...t.map((v, k) => Math.abs(v - s[i][k])))));
    expect(gap).toBeGreaterThan(1e-3);
    for (const t of [whole, first, resumed, restarted]) t.dispose();
  });

  it('names each state as torch.optim does, shaped like its parameter, with the step count', async () => {
    const adam = make(new Adam({ lr: 0.01 }));
    await adam.fit(data, epoch);
    const { tensors, metadata } = decodeSafetensors(await adam.optimizerCheckpoint({ note: 'kept' }));
    expect(metadata).toMatchObject({ content: 'optimizer', optimizer: 'adam', step: '1', note: 'kept' });
    expect([...tensors.keys()].sort()).toEqual(
      ['0.weight', '0.bias', '2.weight', '2.bias'].flatMap((p) => [`${p}.exp_avg`, `${p}.exp_avg_sq`]).sort(),
    );
    for (const p of adam.store.list) {
      const m = tensors.get(`${p.name}.exp_avg`)!;
      const v = tensors.get(`${p.name}.exp_avg_sq`)!;
      expect(m.shape).toEqual(p.shape);
      // After one step m = (1 − β1)·g and v = (1 − β2)·g², so m²/v = 0.01/0.001 wherever g ≠ 0.
      m.data.forEach((mk, k) => {
        if (v.data[k] > 1e-12) expect((mk * mk) / v.data[k]).toBeCloseTo(10, 3);
      });
    }
    const sgd = make(new SGD({ lr: 0.1, momentum: 0.9 }));
    await sgd.fit(data, { ...epoch, epochs: 3 });
    const saved = decodeSafetensors(await sgd.optimizerCheckpoint());
    expect(saved.metadata).toMatchObject({ optimizer: 'sgd', step: '3' });
    expect([...saved.tensors.keys()].filter((n) => n.endsWith('.momentum_buffer'))).toHaveLength(4);
    adam.dispose();
    sgd.dispose();
  });

  it('refuses state of another optimizer, a weights file, or another model, changing nothing', async () => {
    const adam = make(new Adam({ lr: 0.01 }));
    await adam.fit(data, epoch);
    const state = await adam.optimizerCheckpoint();
    const sgd = make(new SGD({ lr: 0.1, momentum: 0.9 }));
    expect(() => sgd.loadOptimizer(state)).toThrow(/holds adam state, but this model trains with sgd; use the same optimizer/);
    const weightsFile = await adam.checkpoint();
    expect(() => adam.loadOptimizer(weightsFile)).toThrow(/holds no optimizer state .*load model weights with `load`/);
    const wider = new Trainer(engine(), { model: new Sequential(new Linear(64, 32), ReLU(), new Linear(32, 4)), inputShape: [64], classes: 4, optimizer: new Adam(), seed: 1 });
    expect(() => wider.loadOptimizer(state)).toThrow(/'0\.weight\.exp_avg': checkpoint has \[16, 64\], model needs \[32, 64\]/);
    expect(wider.store.optimizerSteps).toBe(0);
    for (const t of [adam, sgd, wider]) t.dispose();
  });

  it('leaves no buffers alive', () => {
    expect(engine().stats.liveBuffers).toBe(0);
  });
});
