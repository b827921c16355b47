import { describe, expect, it } from 'vitest';
import type { ImageDataset } from '../../src/data/dataset.js';
import { LeakyReLU, Linear, Sequential, Tanh } from '../../src/nn/layers.js';
import { Dropout } from '../../src/nn/dropout.js';
import { Adam } from '../../src/optim/optimizers.js';
import { GanTrainer, type GanResumePoint } from '../../src/train/gan.js';
import { useEngine } from '../helpers/engine.js';
import { rng } from '../helpers/random.js';

const engine = useEngine();

function images(count: number): ImageDataset {
  const next = rng(11);
  return { images: Uint8Array.from({ length: count * 25 }, () => Math.floor(next() * 256)), labels: new Uint8Array(count), count, height: 5, width: 5, classes: 1 };
}

// Dropout in both networks: a resumed fit must go on with the masks the uninterrupted one draws,
// which follow the compiled steps' run counts (not the stores' update counts).
const gan = () =>
  new GanTrainer(engine(), {
    generator: new Sequential(new Linear(3, 7), LeakyReLU(0.2), new Dropout(0.3), new Linear(7, 25), Tanh()),
    discriminator: new Sequential(new Linear(25, 6), LeakyReLU(0.2), new Dropout(0.4), new Linear(6, 1)),
    latent: 3,
    pixels: 25,
    optimizerG: new Adam({ lr: 1e-2, beta1: 0.5 }),
    optimizerD: new Adam({ lr: 1e-2, beta1: 0.5 }),
    seed: 4,
  });

type Store = GanTrainer['generatorStore'];
const stateOf = async (store: Store) => ({
  values: await Promise.all(store.list.map((p) => store.read(p.name))),
  moments: await Promise.all(['exp_avg', 'exp_avg_sq'].map((k) => store.readState(k))),
  steps: store.optimizerSteps,
});

describe('GanTrainer resumeFrom', () => {
  it('a fit resumed from the end of an epoch, with dropout in G and D, ends as the uninterrupted fit', async () => {
    const data = images(21); // batch 5: 4 iterations an epoch
    const straight = gan();
    const all = await straight.fit(data, { epochs: 3, batchSize: 5 });
    const expected = [await stateOf(straight.generatorStore), await stateOf(straight.discriminatorStore)];
    straight.dispose();

    const first = gan();
    let at: GanResumePoint | undefined;
    const saved: { store: 'g' | 'd'; values: Float32Array[]; moments: Float32Array[]; steps: number }[] = [];
    await first.fit(data, {
      epochs: 3,
      batchSize: 5,
      afterEpoch: async (_e, point) => {
        at = point;
        for (const [name, store] of [['g', first.generatorStore], ['d', first.discriminatorStore]] as const) {
          const s = await stateOf(store);
          saved.push({ store: name, values: s.values, moments: s.moments, steps: s.steps });
        }
        first.dispose(); // stops the fit before its second epoch, as a crash would
      },
    });
    expect(at).toMatchObject({ epoch: 1, dRuns: 4, gRuns: 4 });

    const resumed = gan();
    for (const s of saved) {
      const store = s.store === 'g' ? resumed.generatorStore : resumed.discriminatorStore;
      store.list.forEach((p, i) => store.write(p.name, s.values[i]));
      ['exp_avg', 'exp_avg_sq'].forEach((k, j) => store.list.forEach((p) => store.writeState(k, p.name, s.moments[j].slice(p.offset, p.offset + p.size))));
      store.setOptimizerSteps(s.steps);
    }
    const rest = await resumed.fit(data, { epochs: 3, batchSize: 5, resumeFrom: at });
    expect(rest.map((e) => [e.epoch, e.dLoss, e.gLoss])).toEqual(all.slice(1).map((e) => [e.epoch, e.dLoss, e.gLoss]));
    expect([await stateOf(resumed.generatorStore), await stateOf(resumed.discriminatorStore)]).toEqual(expected);
    await expect(resumed.fit(data, { epochs: 3, batchSize: 5, resumeFrom: { ...at!, epoch: 3 } })).rejects.toThrow(/resumeFrom.epoch 3 must be the epochs a run of 3 had done before its last \(0 to 2\)/);
    resumed.dispose();
  }, 300_000);
});
