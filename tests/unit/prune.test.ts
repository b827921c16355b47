import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/gpu/errors.js';
import { compileStep } from '../../src/graph/compile.js';
import { ParameterStore } from '../../src/graph/params.js';
import { Linear, ReLU, Sequential, Tanh } from '../../src/nn/layers.js';
import { Adam } from '../../src/optim/optimizers.js';
import { computePruningMasks } from '../../src/compress/prune.js';
import { polynomialSparsity } from '../../src/compress/schedule.js';
import type { ImageDataset } from '../../src/data/dataset.js';
import { Trainer } from '../../src/train/trainer.js';
import { useEngine } from '../helpers/engine.js';
import { uniform } from '../helpers/random.js';
import { prunedIndices } from '../reference/prune.js';

const engine = useEngine();

/** Indices of the zeros of `values`. */
function zeros(values: ArrayLike<number>): number[] {
  const out: number[] = [];
  for (let i = 0; i < values.length; i++) if (values[i] === 0) out.push(i);
  return out;
}

/**
 * A store shaped like a small model: a 7×3 weight of magnitudes in [0.1, 1], a 1×5 weight a
 * hundred times smaller, biases, and a rank-1 '.weight' as batch norm has.
 */
function smallStore(): { store: ParameterStore; values: Map<string, Float32Array> } {
  const store = new ParameterStore(engine());
  const values = new Map<string, Float32Array>([
    ['a.weight', uniform(21, 1, 0.1, 1).map((v, i) => (i % 2 ? -v : v))],
    ['a.bias', uniform(7, 2, -0.001, 0.001)],
    ['b.weight', uniform(5, 3, -0.01, 0.01)],
    ['b.bias', uniform(1, 4, -0.001, 0.001)],
    ['bn.weight', uniform(4, 5, -0.001, 0.001)],
  ]);
  const shapes: Record<string, number[]> = { 'a.weight': [7, 3], 'a.bias': [7], 'b.weight': [1, 5], 'b.bias': [1], 'bn.weight': [4] };
  for (const [name, shape] of Object.entries(shapes)) store.add(name, shape, { kind: 'constant', value: 0 });
  for (const [name, v] of values) store.write(name, v);
  return { store, values };
}

describe('magnitude pruning', () => {
  for (const scope of ['per-layer', 'global'] as const) {
    it(`prunes exactly the ${scope} reference's weights of a 7×3 and a 1×5 weight, and nothing else`, async () => {
      const { store, values } = smallStore();
      const pruner = await computePruningMasks(store, { sparsity: 0.5, scope });
      expect(pruner.tensors).toEqual(['a.weight', 'b.weight']);
      // The mask is computed, not yet applied.
      expect(zeros(await store.read('a.weight'))).toEqual([]);
      await pruner.applyNow();
      const expected = prunedIndices([values.get('a.weight')!, values.get('b.weight')!], 0.5, scope);
      expect(zeros(await store.read('a.weight'))).toEqual(expected[0]);
      expect(zeros(await store.read('b.weight'))).toEqual(expected[1]);
      // round(0.5 · 21) = 11 and round(0.5 · 5) = 3 per layer; round(0.5 · 26) = 13 globally, where
      // the small layer goes first: all 5 of its weights, then the 8 smallest of the large one.
      const counts = scope === 'per-layer' ? [11, 3] : [8, 5];
      expect(expected.map((l) => l.length)).toEqual(counts);
      for (const name of ['a.bias', 'b.bias', 'bn.weight']) expect(await store.read(name), name).toEqual(values.get(name));
      const report = await pruner.sparsity();
      expect(report.tensors.map((t) => [t.name, t.size, t.zeros])).toEqual([
        ['a.weight', 21, counts[0]],
        ['b.weight', 5, counts[1]],
      ]);
      expect(report.tensors[1].fraction).toBeCloseTo(counts[1] / 5, 12);
      expect(report.overall).toBeCloseTo((counts[0] + counts[1]) / 26, 12);
      pruner.dispose();
      store.dispose();
    });
  }

  it('breaks ties by position, and prunes what `include` names', async () => {
    const store = new ParameterStore(engine());
    store.add('c.weight', [2, 4], { kind: 'constant', value: 0.5 });
    store.add('c.bias', [3], { kind: 'constant', value: 0.5 });
    const w = Float32Array.of(0.5, -0.5, 0.5, 0.25, -0.5, 0.5, 0.5, 0.5);
    store.write('c.weight', w);
    const pruner = await computePruningMasks(store, { sparsity: 0.5, scope: 'per-layer' });
    await pruner.applyNow();
    expect(zeros(await store.read('c.weight'))).toEqual([0, 1, 2, 3]);
    expect(zeros(await store.read('c.weight'))).toEqual(prunedIndices([w], 0.5, 'per-layer')[0]);
    pruner.dispose();
    const biases = await computePruningMasks(store, { sparsity: 0.34, scope: 'global', include: (name) => name.endsWith('.bias') });
    await biases.applyNow();
    expect(zeros(await store.read('c.bias'))).toEqual([0]);
    biases.dispose();
    store.dispose();
  });

  it('keeps pruned weights at zero through real optimizer steps when recorded after each step', async () => {
    const store = new ParameterStore(engine(), { seed: 7 });
    const model = new Sequential(new Linear(3, 7), ReLU(), new Linear(7, 5), Tanh(), new Linear(5, 1));
    model.register(store);
    const step = await compileStep(engine(), {
      inputs: { x: { shape: [9, 3] }, target: { shape: [9, 1] } },
      stores: [store],
      build: (g, { x, target }) => {
        const [loss] = g.apply('mse', [model.apply(g, x, { store, training: true }), target], {});
        return { outputs: { loss }, minimize: { loss, store, optimizer: new Adam({ lr: 0.05 }) } };
      },
    });
    const pruner = await computePruningMasks(store, { sparsity: 0.6, scope: 'global' });
    expect(pruner.tensors).toEqual(['0.weight', '2.weight', '4.weight']);
    await pruner.applyNow();
    const before = new Map<string, Float32Array>();
    for (const p of store.list) before.set(p.name, await store.read(p.name));
    const pruned = new Map(pruner.tensors.map((name) => [name, zeros(before.get(name)!)]));
    expect([...pruned.values()].reduce((a, l) => a + l.length, 0)).toBe(Math.round(0.6 * (21 + 35 + 5)));

    const x = uniform(27, 11);
    const target = uniform(9, 12);
    for (let i = 0; i < 5; i++) step.run({ x, target }, { after: (encoder) => pruner.encode(encoder) });
    for (const p of store.list) {
      const now = await store.read(p.name);
      // Training moved the parameters (biases included, which are never masked) …
      expect(now, p.name).not.toEqual(before.get(p.name));
      // … but every pruned weight is still exactly zero.
      if (pruned.has(p.name)) expect(zeros(now).filter((i) => pruned.get(p.name)!.includes(i)), p.name).toEqual(pruned.get(p.name));
    }
    const report = await pruner.sparsity();
    expect(report.overall).toBeCloseTo(Math.round(0.6 * 61) / 61, 12);

    // Without the mask, Adam's moments bring the pruned weights back at once.
    step.run({ x, target });
    const revived = zeros(await store.read('2.weight'));
    expect(revived.length).toBeLessThan(pruned.get('2.weight')!.length);
    step.dispose();
    pruner.dispose();
    store.dispose();
  });

  it("keeps a Trainer's pruned weights at zero while fine-tuning with fit({ afterStep })", async () => {
    const count = 40;
    const labels = Uint8Array.from({ length: count }, (_, i) => i % 3);
    const images = Uint8Array.from({ length: count * 16 }, (_, i) => (labels[i >> 4] * 80 + ((i * 37) % 50)) & 0xff);
    const data: ImageDataset = { images, labels, count, height: 4, width: 4, classes: 3 };
    const trainer = new Trainer(engine(), {
      model: new Sequential(new Linear(16, 8), ReLU(), new Linear(8, 3)),
      inputShape: [16],
      classes: 3,
      optimizer: new Adam({ lr: 0.05 }),
      seed: 3,
    });
    const pruner = await computePruningMasks(trainer.store, { sparsity: 0.5, scope: 'per-layer' });
    await pruner.applyNow();
    const pruned = new Map<string, number[]>();
    for (const name of pruner.tensors) pruned.set(name, zeros(await trainer.store.read(name)));
    const history = await trainer.fit(data, { epochs: 3, batchSize: 8, afterStep: (e) => pruner.encode(e) });
    expect(history[2].loss).toBeLessThan(history[0].loss);
    for (const [name, indices] of pruned) {
      const now = await trainer.store.read(name);
      expect(indices.map((i) => now[i]), name).toEqual(indices.map(() => 0));
    }
    expect((await pruner.sparsity()).overall).toBeCloseTo((Math.round(0.5 * 128) + Math.round(0.5 * 24)) / 152, 12);
    pruner.dispose();
    trainer.dispose();
  });

  it('grows the mask gradually without reviving pruned weights', async () => {
    const { store } = smallStore();
    const pruner = await computePruningMasks(store, { sparsity: 0.25, scope: 'per-layer' });
    await pruner.applyNow();
    const first = zeros(await store.read('a.weight'));
    expect(first).toHaveLength(5); // round(5.25)
    // Scale the surviving weights down so that, ranked afresh, they would be smaller than the pruned ones were.
    const shrunk = (await store.read('a.weight')).map((v) => v * 0.01);
    store.write('a.weight', shrunk);
    await pruner.update(0.5);
    expect(pruner.targetSparsity).toBe(0.5);
    await pruner.applyNow();
    const second = zeros(await store.read('a.weight'));
    expect(second).toHaveLength(11);
    expect(first.every((i) => second.includes(i))).toBe(true);
    expect(second).toEqual(prunedIndices([shrunk], 0.5, 'per-layer')[0]);
    pruner.dispose();
    store.dispose();
  });

  it('follows the cubic schedule of gradual pruning', () => {
    const o = { initial: 0.1, final: 0.8, begin: 10, end: 110 };
    expect(polynomialSparsity(0, o)).toBeCloseTo(0.1, 12);
    expect(polynomialSparsity(10, o)).toBeCloseTo(0.1, 12);
    expect(polynomialSparsity(60, o)).toBeCloseTo(0.8 + (0.1 - 0.8) * 0.125, 12);
    expect(polynomialSparsity(85, o)).toBeCloseTo(0.8 - 0.7 * 0.25 ** 3, 12);
    expect(polynomialSparsity(110, o)).toBeCloseTo(0.8, 12);
    expect(polynomialSparsity(1000, o)).toBeCloseTo(0.8, 12);
    expect(polynomialSparsity(50, { final: 0.5, end: 100 })).toBeCloseTo(0.5 - 0.5 * 0.125, 12);
    expect(() => polynomialSparsity(0, { final: 1, end: 10 })).toThrow(/sparsity 1 is outside \[0, 1\)/);
    expect(() => polynomialSparsity(0, { initial: 0.6, final: 0.5, end: 10 })).toThrow(/initial sparsity 0.6 exceeds final 0.5/);
    expect(() => polynomialSparsity(0, { final: 0.5, begin: 10, end: 10 })).toThrow(/end step 10 must come after begin step 10/);
  });

  it('rejects bad sparsities and empty selections before any GPU work', async () => {
    const store = new ParameterStore(engine());
    store.add('fc.weight', [2, 3], { kind: 'constant', value: 1 });
    store.add('fc.bias', [2], { kind: 'constant', value: 1 });
    const live = engine().stats.liveBuffers;
    for (const sparsity of [1, -0.1, Number.NaN]) {
      await expect(computePruningMasks(store, { sparsity, scope: 'global' })).rejects.toThrow(ShapeError);
    }
    await expect(computePruningMasks(store, { sparsity: 1, scope: 'global' })).rejects.toThrow(/prune: sparsity 1 is outside \[0, 1\); pass the fraction/);
    await expect(computePruningMasks(store, { sparsity: 0.5, scope: 'global', include: (n) => n.startsWith('conv') })).rejects.toThrow(
      /prune: no parameter matched \(parameters: fc.weight \[2, 3\], fc.bias \[2\]\); .* pass 'include'/,
    );
    await expect(computePruningMasks(store, { sparsity: 0.5, scope: 'layer' as 'global' })).rejects.toThrow(/scope 'layer' is unknown; use 'global' or 'per-layer'/);
    // Nothing was allocated: not even the store's buffers.
    expect(engine().stats.liveBuffers).toBe(live);
    const pruner = await computePruningMasks(store, { sparsity: 0.5, scope: 'global' });
    pruner.dispose();
    await expect(pruner.sparsity()).rejects.toThrow(/pruner was used after dispose/);
    store.dispose();
  });

  it('leaves no buffers alive', () => {
    expect(engine().stats.liveBuffers).toBe(0);
  });
});
