import { describe, expect, it } from 'vitest';
import { distill } from '../../src/compress/distill.js';
import type { ImageDataset } from '../../src/data/dataset.js';
import { DivergenceError } from '../../src/gpu/errors.js';
import { compileStep } from '../../src/graph/compile.js';
import type { Graph, Value } from '../../src/graph/ir.js';
import { ParameterStore } from '../../src/graph/params.js';
import { decodeStepHealth } from '../../src/graph/step_health.js';
import type { NonFiniteMode } from '../../src/kernels/optimizer.js';
import { Module, type ForwardContext } from '../../src/nn/module.js';
import { Linear, ReLU, Sequential } from '../../src/nn/layers.js';
import { Adam, SGD } from '../../src/optim/optimizers.js';
import { Trainer } from '../../src/train/trainer.js';
import { useEngine } from '../helpers/engine.js';
import { integers, rng, uniform } from '../helpers/random.js';

const engine = useEngine();

/** x ↦ x·x: a pixel normalised to 1e37 squares to +Inf, and the next matmul mixes Infs into NaN. */
class Square extends Module {
  describe(): string {
    return 'Square';
  }
  forward(g: Graph, x: Value, _ctx: ForwardContext): Value {
    return g.apply('mul', [x, x], {})[0];
  }
}

const stateOf = async (store: ParameterStore, keys: readonly string[]) => [
  ...(await Promise.all(store.list.map((p) => store.read(p.name)))),
  ...(await Promise.all(keys.map((k) => store.readState(k)))),
];
const same = (a: Float32Array[], b: Float32Array[]) => a.every((t, i) => t.length === b[i].length && t.every((v, j) => Object.is(v, b[i][j])));

async function step(store: ParameterStore, model: Sequential, optimizer: Adam | SGD, mode: NonFiniteMode | undefined) {
  return compileStep(engine(), {
    inputs: { x: { shape: [6, 7] }, labels: { shape: [6], dtype: 'u32' } },
    stores: [store],
    build: (g, { x, labels }) => {
      const [loss] = g.apply('softmax_cross_entropy', [model.apply(g, x, { store, training: true }), labels], {});
      return { outputs: { loss }, minimize: { loss, store, optimizer, onNonFinite: mode } };
    },
  });
}

describe('non-finite steps in a compiled step', () => {
  const good = uniform(6 * 7, 1);
  const nan = good.slice();
  nan[17] = NaN;
  const labels = integers(6, 3, 2);

  async function setup(mode: NonFiniteMode | undefined) {
    const store = new ParameterStore(engine(), { seed: 3 });
    const model = new Sequential(new Linear(7, 5), ReLU(), new Linear(5, 3));
    model.register(store);
    const optimizer = new Adam({ lr: 0.05 });
    return { store, s: await step(store, model, optimizer, mode), keys: optimizer.stateKeys };
  }

  it("'skip' leaves parameters and Adam's moments bit-identical across a NaN step, then trains on", async () => {
    const { store, s, keys } = await setup('skip');
    s.run({ x: good, labels });
    const afterFirst = await stateOf(store, keys);
    s.run({ x: nan, labels });
    expect(Number.isNaN((await s.read('loss'))[0])).toBe(true);
    expect(same(await stateOf(store, keys), afterFirst)).toBe(true);
    s.run({ x: good, labels });
    const afterThird = await stateOf(store, keys);
    expect(same(afterThird, afterFirst)).toBe(false);
    expect(afterThird.every((t) => t.every(Number.isFinite))).toBe(true);
    const range = s.healthRange!;
    const health = decodeStepHealth(new Uint32Array(await engine().readBytes(range.buffer, range.size, range.offset)), store);
    expect(health).toEqual({ halted: false, skipped: 1, firstBadRun: 2, firstBad: 'loss' });
    s.dispose();
    store.dispose();
  });

  it("'error' (the default) halts every update from the bad step on", async () => {
    const { store, s, keys } = await setup(undefined);
    s.run({ x: good, labels });
    const afterFirst = await stateOf(store, keys);
    s.run({ x: nan, labels });
    for (let i = 0; i < 3; i++) s.run({ x: good, labels });
    expect(same(await stateOf(store, keys), afterFirst)).toBe(true);
    const range = s.healthRange!;
    const health = decodeStepHealth(new Uint32Array(await engine().readBytes(range.buffer, range.size, range.offset)), store);
    expect(health).toEqual({ halted: true, skipped: 1, firstBadRun: 2, firstBad: 'loss' });
    s.dispose();
    store.dispose();
  });

  it("'error': the step's next read throws a DivergenceError naming the run, so a hand-driven loop cannot train on frozen", async () => {
    const { store, s } = await setup(undefined);
    s.run({ x: good, labels });
    expect((await s.read('loss')).every(Number.isFinite)).toBe(true);
    s.run({ x: nan, labels });
    s.run({ x: good, labels });
    const error = await s.read('loss').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DivergenceError);
    expect(error).toMatchObject({ step: 2, epoch: undefined, tensor: 'loss' });
    expect((error as Error).message).toMatch(/^CompiledStep\.read: the loss became non-finite \(NaN or Inf\) at step 2; /);
    s.dispose();
    store.dispose();
  });

  it('names the parameter whose gradient first overflows while the loss stays finite', async () => {
    // loss = 10·(Σ a⊙x + Σ b⊙y) with a = b = 1e-10: finite, while d loss/d b = 10·y overflows
    // where y holds 3e38 (element 5 of b, which sits at float 64 + 5 after a's padded slot).
    const store = new ParameterStore(engine());
    store.add('a', [8], { kind: 'constant', value: 1e-10 });
    store.add('b', [8], { kind: 'constant', value: 1e-10 });
    const s = await compileStep(engine(), {
      inputs: { x: { shape: [8] }, y: { shape: [8] } },
      stores: [store],
      build: (g, { x, y }) => {
        const dot = (p: string, v: Value) => g.apply('sum', [g.apply('mul', [store.value(g, p), v], {})[0]], { axis: 0 })[0];
        const [loss] = g.apply('scale', [g.apply('add', [dot('a', x), dot('b', y)], {})[0]], { scale: 10, shift: 0 });
        return { outputs: { loss }, minimize: { loss, store, optimizer: new SGD({ lr: 1 }), onNonFinite: 'skip' } };
      },
    });
    const y = new Float32Array(8).fill(1);
    y[5] = 3e38;
    y[7] = 3e38; // a later element of the same tensor: the first one is reported
    s.run({ x: new Float32Array(8).fill(1), y });
    expect(Number.isFinite((await s.read('loss'))[0])).toBe(true);
    const range = s.healthRange!;
    const words = new Uint32Array(await engine().readBytes(range.buffer, range.size, range.offset));
    expect(decodeStepHealth(words, store)).toEqual({ halted: false, skipped: 1, firstBadRun: 1, firstBad: 'b' });
    expect(words[3]).toBe(0xfffffffe - (64 + 5));
    expect(Array.from(await store.read('a'))).toEqual(Array(8).fill(Math.fround(1e-10)));
    s.dispose();
    store.dispose();
  });

  it('names the parameter whose gradient element is the first non-finite one', () => {
    const store = new ParameterStore(engine());
    store.add('a', [3, 30], { kind: 'constant', value: 0 }); // 90 floats, padded to 128
    store.add('b', [5], { kind: 'constant', value: 0 });
    const words = (code: number) => Uint32Array.of(1, 1, 7, code, 0, 0, 0, 7, 0);
    expect(decodeStepHealth(words(0xfffffffe - 0), store).firstBad).toBe('a');
    expect(decodeStepHealth(words(0xfffffffe - 89), store).firstBad).toBe('a');
    expect(decodeStepHealth(words(0xfffffffe - 128), store).firstBad).toBe('b');
    expect(decodeStepHealth(words(0xffffffff), store).firstBad).toBe('loss');
    expect(decodeStepHealth(Uint32Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0), store)).toEqual({ halted: false, skipped: 0, firstBadRun: 0 });
  });
});

/** `count` 8×8 images, all black except those listed, which are all white; labels 0–3. */
function images(count: number, white: number[]): ImageDataset {
  const next = rng(5);
  const data = new Uint8Array(count * 64);
  for (const i of white) data.fill(255, i * 64, (i + 1) * 64);
  return { images: data, labels: Uint8Array.from({ length: count }, () => Math.floor(next() * 4)), count, height: 8, width: 8, classes: 4 };
}

const trainer = (optimizer: Adam | SGD, model = new Sequential(new Linear(64, 8), ReLU(), new Linear(8, 4)), std = 1) =>
  new Trainer(engine(), { model, inputShape: [64], classes: 4, optimizer, seed: 2, normalisation: { mean: 0, std } });

describe('fit on a diverging run', () => {
  it('rejects with a DivergenceError naming the step and the tensor; the parameters stay finite', async () => {
    const t = trainer(new SGD({ lr: 1e30 }));
    const data = images(64, [3, 20, 40]).images.map((_, i) => (i * 37) % 256);
    const d: ImageDataset = { ...images(64, []), images: Uint8Array.from(data) };
    const error = await t.fit(d, { epochs: 3, batchSize: 8, progressEvery: 2, onProgress: () => {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DivergenceError);
    const e = error as DivergenceError;
    expect(e.step).toBeGreaterThanOrEqual(2);
    expect(e.epoch).toBe(Math.ceil(e.step / 8));
    expect(['loss', ...t.store.list.map((p) => p.name)]).toContain(e.tensor);
    expect(e.message).toMatch(new RegExp(`^fit: .* became non-finite \\(NaN or Inf\\) at step ${e.step} \\(epoch ${e.epoch}\\)`));
    for (const p of t.store.list) expect((await t.store.read(p.name)).every(Number.isFinite)).toBe(true);
    // Only the updates before the bad step count.
    expect(t.store.optimizerSteps).toBe(e.step - 1);
    t.dispose();
  });

  it('stops a diverged epoch early from its periodic readbacks, without onProgress', async () => {
    const t = trainer(new SGD({ lr: 1e30 }));
    const d: ImageDataset = { ...images(240, []), images: Uint8Array.from({ length: 240 * 64 }, (_, i) => (i * 37) % 256) };
    let steps = 0;
    const error = await t.fit(d, { epochs: 1, batchSize: 2, progressEvery: 4, afterStep: () => void steps++ }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DivergenceError);
    // The epoch has 120 steps; the flag comes back with a snapshot every 4 of them.
    expect(steps).toBeLessThan(120);
    t.dispose();
  });

  it("'skip' skips exactly the steps holding a non-finite sample, counts them, and trains on the rest", async () => {
    // Black images normalise to 0, white ones to 1e37, which Square turns into +Inf: a NaN loss.
    const model = () => new Sequential(new Square(), new Linear(64, 8), ReLU(), new Linear(8, 4));
    const poisoned = trainer(new Adam({ lr: 0.01 }), model(), 1e-37);
    const history = await poisoned.fit(images(32, [5]), { epochs: 3, batchSize: 8, onNonFinite: 'skip' });
    expect(history.map((r) => r.skippedSteps)).toEqual([1, 1, 1]);
    expect(history.every((r) => Number.isFinite(r.loss))).toBe(true);
    expect(poisoned.store.optimizerSteps).toBe(9);
    for (const p of poisoned.store.list) expect((await poisoned.store.read(p.name)).every(Number.isFinite)).toBe(true);
    // The default stops at the first of those steps instead.
    const strict = trainer(new Adam({ lr: 0.01 }), model(), 1e-37);
    await expect(strict.fit(images(32, [5]), { epochs: 3, batchSize: 8 })).rejects.toThrow(/^fit: the loss became non-finite \(NaN or Inf\) at step [1-4] \(epoch 1\)/);
    await expect(strict.fit(images(32, []), { epochs: 1, batchSize: 8, onNonFinite: 'never' as NonFiniteMode })).rejects.toThrow(/^fit: onNonFinite 'never' must be 'error' or 'skip'/);
    poisoned.dispose();
    strict.dispose();
  });

  it('distill stops the same way when the student diverges', async () => {
    const student = trainer(new SGD({ lr: 1e30 }));
    const teacher = trainer(new SGD({ lr: 0.1 }));
    const d: ImageDataset = { ...images(64, []), images: Uint8Array.from({ length: 64 * 64 }, (_, i) => (i * 37) % 256) };
    const run = distill(engine(), d, { student, teacher, temperature: 2, alpha: 0.5, epochs: 3, batchSize: 8 });
    await expect(run).rejects.toThrow(/^distill: .* became non-finite \(NaN or Inf\) at step \d+ \(epoch \d\)/);
    for (const p of student.store.list) expect((await student.store.read(p.name)).every(Number.isFinite)).toBe(true);
    student.dispose();
    teacher.dispose();
  });
});
