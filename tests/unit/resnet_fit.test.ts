import { describe, expect, it } from 'vitest';
import { channelStatistics } from '../../src/data/cifar.js';
import type { ImageDataset } from '../../src/data/dataset.js';
import { resnet } from '../../src/models/resnet.js';
import { SGD } from '../../src/optim/optimizers.js';
import { cosine } from '../../src/train/schedules.js';
import { Trainer } from '../../src/train/trainer.js';
import { useEngine } from '../helpers/engine.js';
import { rng } from '../helpers/random.js';

const engine = useEngine();
const SIDE = 8;

/**
 * A tiny colour task: 8×8 RGB images of a horizontal bar (class 0), a vertical bar (1) or a cross
 * (2) at a random place, in a random colour on a random background; colour says nothing of the
 * class, and the classes survive horizontal flips and small crops.
 */
function shapes(count: number, seed: number): ImageDataset {
  const next = rng(seed);
  const int = (n: number) => Math.floor(next() * n);
  const images = new Uint8Array(count * 3 * SIDE * SIDE);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const label = i % 3;
    labels[i] = label;
    const bg = [int(256), int(256), int(256)];
    const fg = bg.map((v) => (v + 100 + int(56)) % 256);
    const [row, col] = [2 + int(4), 2 + int(4)];
    for (let y = 0; y < SIDE; y++) {
      for (let x = 0; x < SIDE; x++) {
        const on = (label !== 1 && y === row && x >= 1 && x < 7) || (label !== 0 && x === col && y >= 1 && y < 7);
        for (let c = 0; c < 3; c++) images[((i * 3 + c) * SIDE + y) * SIDE + x] = on ? fg[c] : bg[c];
      }
    }
  }
  return { images, labels, count, height: SIDE, width: SIDE, channels: 3, classes: 3 };
}

describe('resnet training', () => {
  it('learns a tiny colour task with the CLI recipe (Nesterov SGD, weight decay, cosine, crop + flip, per-channel normalisation)', async () => {
    const raw = shapes(240, 1);
    const stats = channelStatistics(raw);
    const train = { ...raw, channelNormalisation: stats };
    const test = { ...shapes(90, 2), channelNormalisation: stats };
    const trainer = new Trainer(engine(), {
      model: resnet({ depth: 8, width: 4, classes: 3 }),
      inputShape: [3, SIDE, SIDE],
      classes: 3,
      optimizer: new SGD({ lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 5e-4 }),
      seed: 3,
    });
    const before = await trainer.evaluate(test);
    const history = await trainer.fit(train, { epochs: 10, batchSize: 24, evaluate: test, schedule: cosine(), augment: { crop: 1, flip: true } });
    const last = history[history.length - 1];
    expect(last.loss).toBeLessThan(history[0].loss);
    // Chance is 1/3.
    expect(last.evalAccuracy!).toBeGreaterThan(0.7);
    expect(last.evalAccuracy!).toBeGreaterThan(before.accuracy + 0.3);
    trainer.dispose();
  });
});
