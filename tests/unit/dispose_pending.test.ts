import { describe, expect, it } from 'vitest';
import { Linear, ReLU, Sequential } from '../../src/nn/layers.js';
import { Adam } from '../../src/optim/optimizers.js';
import { Trainer } from '../../src/train/trainer.js';
import { useEngine } from '../helpers/engine.js';

const engine = useEngine();
const make = (seed: number) =>
  new Trainer(engine(), { model: new Sequential(new Linear(16, 8), ReLU(), new Linear(8, 3)), inputShape: [16], classes: 3, optimizer: new Adam({ lr: 0.01 }), seed });

// A trainer's parameters are initialised by eager launches that are only submitted at the next
// flush; disposing it before then must not leave that submit using destroyed buffers.
describe('disposing with eager work unsubmitted', () => {
  it('frees the parameters after the launches that use them, and the next flush succeeds', async () => {
    const source = make(1);
    const bytes = await source.checkpoint();
    source.dispose();
    await engine().flush();
    const baseline = engine().stats.liveBuffers;

    const t = make(2);
    t.load(bytes);
    t.dispose();
    await expect(engine().flush()).resolves.toBeUndefined();
    expect(engine().stats.liveBuffers).toBe(baseline);
  });
});
