import { describe, expect, it } from 'vitest';
import { compileStep } from '../../src/graph/compile.js';
import { ParameterStore } from '../../src/graph/params.js';
import { summarizeTimings, TimestampProfiler } from '../../src/gpu/profiler.js';
import { Linear, ReLU, Sequential } from '../../src/nn/layers.js';
import { Adam } from '../../src/optim/optimizers.js';
import { activationForward } from '../../src/kernels/activation.js';
import { ShapeError } from '../../src/gpu/errors.js';
import type { ImageDataset } from '../../src/data/dataset.js';
import { Trainer } from '../../src/train/trainer.js';
import { useEngine } from '../helpers/engine.js';
import { integers, uniform } from '../helpers/random.js';

const engine = useEngine();

async function mlpStep(seed: number) {
  const store = new ParameterStore(engine(), { seed });
  const model = new Sequential(new Linear(13, 33), ReLU(), new Linear(33, 3));
  model.register(store);
  const step = await compileStep(engine(), {
    inputs: { x: { shape: [7, 13] }, labels: { shape: [7], dtype: 'u32' } },
    stores: [store],
    build: (g, { x, labels }) => {
      const logits = model.apply(g, x, { store, training: true });
      const [loss, , correct] = g.apply('softmax_cross_entropy', [logits, labels], {});
      return { outputs: { loss, correct }, minimize: { loss, store, optimizer: new Adam({ lr: 0.01 }) } };
    },
  });
  return { store, step };
}

describe('timestamp profiler', () => {
  it('is available on this adapter', () => {
    // Dawn in Node (SwiftShader included) grants timestamp-query; the engine asks for it.
    expect(TimestampProfiler.supported(engine())).toBe(true);
    expect(engine().info.features).toContain('timestamp-query');
  });

  it('times every dispatch of a step, which is a real step with the same result as run()', async () => {
    const x = uniform(7 * 13, 1);
    const labels = integers(7, 3, 2);
    const profiled = await mlpStep(4);
    const plain = await mlpStep(4);
    await engine().sync(); // lets initialisation's temporary buffers go
    const buffers = engine().stats.liveBuffers;

    const timings = await profiled.step.profile({ x, labels });
    plain.step.run({ x, labels });

    expect(timings).toHaveLength(profiled.step.stats.dispatches);
    for (const t of timings) {
      expect(Number.isFinite(t.ms)).toBe(true);
      expect(t.ms).toBeGreaterThanOrEqual(0);
    }
    expect(timings.reduce((a, t) => a + t.ms, 0)).toBeGreaterThan(0);
    const names = timings.map((t) => t.name).join(' ');
    expect(names).toMatch(/matmul/);
    expect(names).toMatch(/softmax_cross_entropy/);
    expect(timings[timings.length - 1].name).toMatch(/adam/);
    // The profiler's query set and buffer are gone again.
    expect(engine().stats.liveBuffers).toBe(buffers);

    expect(profiled.step.step).toBe(1);
    expect(await profiled.step.read('loss')).toEqual(await plain.step.read('loss'));
    for (const p of profiled.store.list) expect(await profiled.store.read(p.name)).toEqual(await plain.store.read(p.name));

    for (const s of [profiled, plain]) {
      s.step.dispose();
      s.store.dispose();
    }
  });

  it('times hook work recorded inside the pass under "hooks"', async () => {
    const { store, step } = await mlpStep(5);
    let recorded = 0;
    const timings = await step.profile(
      { x: uniform(7 * 13, 3), labels: integers(7, 3, 4) },
      { inPass: () => void recorded++ },
    );
    expect(recorded).toBe(1);
    expect(timings[timings.length - 1].name).toBe('hooks');
    expect(timings).toHaveLength(step.stats.dispatches + 1);
    step.dispose();
    store.dispose();
  });

  it('rejects bad feeds before any GPU work and leaves the step count alone', async () => {
    const { store, step } = await mlpStep(6);
    await engine().sync();
    const buffers = engine().stats.liveBuffers;
    await expect(step.profile({ x: new Float32Array(5) })).rejects.toThrow(ShapeError);
    expect(step.step).toBe(0);
    expect(engine().stats.liveBuffers).toBe(buffers);
    step.dispose();
    store.dispose();
    expect(engine().stats.liveBuffers).toBe(0);
  });

  it('gives the autotuner GPU times of candidate kernels', async () => {
    const x = engine().createStorage(4096 * 4, 'x');
    const y = engine().createStorage(4096 * 4, 'y');
    const ms = await engine().tuner.time([{ spec: activationForward({ kind: 'gelu' }, 4096), buffers: [0, 1] }], [x, y]);
    expect(Number.isFinite(ms)).toBe(true);
    expect(ms).toBeGreaterThan(0);
    engine().buffers.destroy(x);
    engine().buffers.destroy(y);
    expect(engine().stats.liveBuffers).toBe(0);
  });

  it("profiles a Trainer's training step, batch gather first", async () => {
    const count = 12;
    const data: ImageDataset = {
      images: Uint8Array.from({ length: count * 9 }, (_, i) => (i * 29) & 0xff),
      labels: Uint8Array.from({ length: count }, (_, i) => i % 4),
      count,
      height: 3,
      width: 3,
      classes: 4,
    };
    const trainer = new Trainer(engine(), {
      model: new Sequential(new Linear(9, 5), ReLU(), new Linear(5, 4)),
      inputShape: [9],
      classes: 4,
      optimizer: new Adam({ lr: 0.01 }),
      seed: 2,
    });
    const before = await trainer.store.read('0.weight');
    const timings = await trainer.profile(data, { batchSize: 5, warmup: 1 });
    expect(timings[0].name).toBe('gather_batch');
    expect(timings.map((t) => t.name).join(' ')).toMatch(/matmul.*softmax_cross_entropy.*adam/);
    for (const t of timings) expect(t.ms).toBeGreaterThanOrEqual(0);
    // Two real steps ran (one warm-up, one profiled).
    expect(await trainer.store.read('0.weight')).not.toEqual(before);
    await expect(trainer.profile(data, { batchSize: 13 })).rejects.toThrow(/batch size 13 exceeds the 12 training samples/);
    trainer.dispose();
    await engine().sync();
    expect(engine().stats.liveBuffers).toBe(0);
  });

  it('summarises timings per kernel, largest first, with shares', () => {
    const summary = summarizeTimings([
      { name: 'a', ms: 1 },
      { name: 'b', ms: 5 },
      { name: 'a', ms: 2 },
      { name: 'c', ms: 0 },
    ]);
    expect(summary.map((s) => [s.name, s.ms, s.launches])).toEqual([
      ['b', 5, 1],
      ['a', 3, 2],
      ['c', 0, 1],
    ]);
    expect(summary[0].share).toBeCloseTo(0.625, 12);
    expect(summarizeTimings([{ name: 'z', ms: 0 }])[0].share).toBe(0);
  });
});
