import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/gpu/errors.js';
import { mlpDiscriminator, mlpGenerator } from '../../src/models/gan.js';
import { Linear } from '../../src/nn/layers.js';
import { Adam } from '../../src/optim/optimizers.js';
import { GanTrainer } from '../../src/train/gan.js';
import { MAX_SEED } from '../../src/train/seed.js';
import { Trainer } from '../../src/train/trainer.js';
import { useEngine } from '../helpers/engine.js';

const engine = useEngine();
const trainer = (seed: number) => new Trainer(engine(), { model: new Linear(4, 2), inputShape: [4], classes: 2, optimizer: new Adam(), seed });
const gan = (seed: number) =>
  new GanTrainer(engine(), { generator: mlpGenerator(2, [4], 4), discriminator: mlpDiscriminator(4, [4]), latent: 2, pixels: 4, optimizerG: new Adam(), optimizerD: new Adam(), seed });

// Seeds past 32 bits would repeat smaller seeds' shuffles and augmentations, and fail later on an
// internal key: both trainers refuse them when built, before any GPU buffer exists.
describe('trainer seeds', () => {
  it.each([-1, 0.5, MAX_SEED + 1, 2 ** 53, NaN])('refuses seed %s when built, allocating nothing', (seed) => {
    const before = engine().stats.liveBuffers;
    expect(() => trainer(seed)).toThrow(new ShapeError(`Trainer: seed ${seed} must be an integer from 0 to ${MAX_SEED}`));
    expect(() => gan(seed)).toThrow(new ShapeError(`GanTrainer: seed ${seed} must be an integer from 0 to ${MAX_SEED}`));
    expect(engine().stats.liveBuffers).toBe(before);
  });

  it('accepts 0 and MAX_SEED', () => {
    for (const seed of [0, MAX_SEED]) {
      trainer(seed).dispose();
      gan(seed).dispose();
    }
  });
});
