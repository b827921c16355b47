import { describe, expect, it } from 'vitest';
import { compileStep } from '../../src/graph/compile.js';
import { ParameterStore } from '../../src/graph/params.js';
import { Linear, Sequential } from '../../src/nn/layers.js';
import { Adam } from '../../src/optim/optimizers.js';
import { useEngine } from '../helpers/engine.js';
import { uniform } from '../helpers/random.js';

const engine = useEngine();

describe('long training loops', () => {
  // A tiny model keeps 10,000 steps affordable on a software adapter; what is checked is the executor.
  it('keeps GPU memory and live buffers flat over a 10,000-step loop', { timeout: 600_000 }, async () => {
    const store = new ParameterStore(engine(), { seed: 7 });
    const model = new Sequential(new Linear(4, 3));
    model.register(store);
    const step = await compileStep(engine(), {
      inputs: { x: { shape: [2, 4] }, labels: { shape: [2], dtype: 'u32' } },
      stores: [store],
      build: (g, { x, labels }) => {
        const [loss] = g.apply('softmax_cross_entropy', [model.apply(g, x, { store, training: true }), labels], {});
        return { outputs: { loss }, minimize: { loss, store, optimizer: new Adam({ lr: 1e-3 }) } };
      },
    });
    step.run({ x: uniform(8, 3), labels: Uint32Array.of(0, 2) });
    await engine().sync();
    // Activity counters (submits, passes, launches, encode time) grow or vary with every run by design;
    // everything that owns or caches GPU memory must stay flat.
    const allocations = () => {
      const { submits: _s, passes: _p, launches: _l, ...engineStats } = engine().stats;
      const { encodeMicros: _e, ...stepStats } = step.stats;
      return { ...engineStats, step: stepStats };
    };
    const before = allocations();
    for (let i = 1; i < 10_000; i++) {
      step.run();
      if (i % 500 === 0) await engine().device.queue.onSubmittedWorkDone();
    }
    const loss = (await step.read('loss'))[0];
    expect(Number.isFinite(loss)).toBe(true);
    expect(step.step).toBe(10_000);
    expect(allocations()).toEqual(before);
    step.dispose();
    store.dispose();
  });

  it('leaves no buffers alive', () => {
    expect(engine().stats.liveBuffers).toBe(0);
  });
});
