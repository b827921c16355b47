import { describe, expect, it } from 'vitest';
import { gradients } from '../../src/graph/autodiff.js';
import { compileStep } from '../../src/graph/compile.js';
import { createGraph } from '../../src/graph/graph.js';
import type { Graph, Value } from '../../src/graph/ir.js';
import { ParameterStore } from '../../src/graph/params.js';
import { Plan } from '../../src/graph/plan.js';
import { scheduleOf } from '../../src/graph/passes/schedule.js';
import { KernelError, ShapeError } from '../../src/gpu/errors.js';
import { Conv2d } from '../../src/nn/conv.js';
import { Dropout } from '../../src/nn/dropout.js';
import { Flatten, Linear, ReLU, Sequential } from '../../src/nn/layers.js';
import { BatchNorm1d, BatchNorm2d } from '../../src/nn/normalization.js';
import type { UpdateRule } from '../../src/graph/update.js';
import { AdamW, SGD } from '../../src/optim/optimizers.js';
import { decodeSafetensors } from '../../src/train/safetensors.js';
import { Trainer } from '../../src/train/trainer.js';
import { expectClose, numericGradient } from '../helpers/compare.js';
import { useEngine } from '../helpers/engine.js';
import { integers, uniform } from '../helpers/random.js';
import { batchNormTrainRef, normalize, runningUpdateRef } from '../reference/batch_norm.js';
import { evaluate } from '../reference/graph.js';

const engine = useEngine();
const f64 = (a: ArrayLike<number>) => Float64Array.from(a);

/** Every gradient autodiff builds, against central differences of the float64 forward graph. */
function checkGradients(g: Graph, loss: Value, feeds: Map<Value, Float64Array>, wrt: Value[]): void {
  const forwardEnd = g.nodes.length;
  const grads = gradients(g, loss, wrt);
  const env = evaluate(g, feeds);
  for (const w of wrt) {
    const numeric = numericGradient((v) => evaluate(g, new Map(feeds).set(w, v), forwardEnd).get(loss)![0], feeds.get(w)!);
    expectClose(env.get(grads.get(w)!)!, numeric, { atol: 1e-7, rtol: 1e-6 }, `d loss / d ${w.name}`);
  }
}

describe('batch_norm graph ops (float64 interpreter)', () => {
  it('normalises with batch statistics, updates running statistics in place, and evaluates with them', () => {
    for (const shape of [[5, 3], [2, 3, 4, 5], [1, 2, 1, 1]]) {
      const s = { n: shape[0], c: shape[1], hw: shape.length === 4 ? shape[2] * shape[3] : 1 };
      const g = createGraph();
      const [x, gamma, beta, rm, rv] = [g.input('x', shape), g.param('g', [s.c]), g.param('b', [s.c]), g.param('rm', [s.c]), g.param('rv', [s.c])];
      const count = g.param('count', []);
      const [y] = g.apply('batch_norm', [x, gamma, beta, rm, rv, count], { eps: 1e-5, momentum: 0.1, affine: true, countBatches: true });
      const [ye] = g.apply('batch_norm_eval', [x, rm, rv, gamma, beta], { eps: 1e-3, affine: true });
      const data = [uniform(s.n * s.c * s.hw, 1, -2, 3), uniform(s.c, 2), uniform(s.c, 3), uniform(s.c, 4), uniform(s.c, 5, 0.5, 2)].map(f64);
      const feeds = new Map([x, gamma, beta, rm, rv].map((v, i) => [v, Float64Array.from(data[i])]));
      feeds.set(count, Float64Array.of(41));
      const env = evaluate(g, feeds);
      expect(feeds.get(count)![0]).toBe(42);
      expectClose(env.get(y)!, batchNormTrainRef(data[0], s, 1e-5, data[1], data[2]), { atol: 1e-12, rtol: 1e-12 }, `y ${shape}`);
      const expected = runningUpdateRef(data[0], s, 0.1, data[3], data[4]);
      expectClose(feeds.get(rm)!, expected.mean, { atol: 1e-15, rtol: 1e-14 }, 'running_mean');
      expectClose(feeds.get(rv)!, expected.variance, { atol: 1e-15, rtol: 1e-14 }, 'running_var');
      // The eval op, later in the graph, sees the updated statistics.
      expectClose(env.get(ye)!, normalize(data[0], s, expected.mean, expected.variance, 1e-3, data[1], data[2]), { atol: 1e-12, rtol: 1e-12 }, 'eval');
    }
  });

  it('differentiates train-mode batch_norm (2-D and 4-D, affine or not) and eval mode by finite differences', () => {
    for (const affine of [true, false]) {
      const g = createGraph();
      const x = g.param('x', [5, 4]);
      const w = g.param('w', [3, 4]);
      let h = g.apply('matmul', [x, w], { transA: false, transB: true })[0];
      const stats = [g.param('rm', [3]), g.param('rv', [3])];
      const gb = affine ? [g.param('gamma', [3]), g.param('beta', [3])] : [];
      h = g.apply('batch_norm', [h, ...gb, ...stats], { eps: 1e-5, momentum: 0.1, affine, countBatches: false })[0];
      h = g.apply('activation', [h], { activation: { kind: 'tanh' } })[0];
      const t = g.input('t', [5, 3]);
      const [loss] = g.apply('mse', [h, t], {});
      const feeds = new Map<Value, Float64Array>([
        [x, f64(uniform(20, 11))],
        [w, f64(uniform(12, 12))],
        [t, f64(uniform(15, 13))],
        [stats[0], new Float64Array(3)],
        [stats[1], new Float64Array(3).fill(1)],
      ]);
      gb.forEach((v, i) => feeds.set(v, f64(uniform(3, 14 + i, 0.5, 1.5))));
      checkGradients(g, loss, feeds, [x, w, ...gb]);
    }

    const g = createGraph();
    const x = g.param('x', [2, 3, 3, 2]);
    const w = g.param('w', [2, 3, 2, 2]);
    let h = g.apply('conv2d', [x, w], { stride: [1, 1], padding: [1, 0], dilation: [1, 1] })[0]; // [2, 2, 4, 1]
    const [gamma, beta, rm, rv, em, ev] = ['gamma', 'beta', 'rm', 'rv', 'em', 'ev'].map((n) => g.param(n, [2]));
    const y = g.apply('batch_norm', [h, gamma, beta, rm, rv], { eps: 1e-5, momentum: 0.3, affine: true, countBatches: false })[0];
    // The eval branch reads other statistics: those batch_norm updates depend on x, but as state,
    // not through the gradient (as in PyTorch), so finite differences would see them move.
    const ye = g.apply('batch_norm_eval', [h, em, ev, gamma, beta], { eps: 1e-2, affine: true })[0];
    h = g.apply('add', [g.apply('activation', [y], { activation: { kind: 'tanh' } })[0], g.apply('activation', [ye], { activation: { kind: 'sigmoid' } })[0]], {})[0];
    const t = g.input('t', h.shape);
    const [loss] = g.apply('mse', [h, t], {});
    const feeds = new Map<Value, Float64Array>([
      [x, f64(uniform(x.size, 21))],
      [w, f64(uniform(w.size, 22))],
      [t, f64(uniform(t.size, 23))],
      [gamma, f64([0.7, 1.3])],
      [beta, f64([0.1, -0.2])],
      [rm, f64([0.2, -0.1])],
      [rv, f64([0.8, 1.5])],
      [em, f64([0.2, -0.1])],
      [ev, f64([0.8, 1.5])],
    ]);
    checkGradients(g, loss, feeds, [x, w, gamma, beta]);
  });

  it('raises shape errors at build time, naming the layer, the shapes and the fix', () => {
    const g = createGraph();
    const x = g.input('x', [4, 3]);
    const c = ['g', 'b', 'rm'].map((n) => g.param(n, [3]));
    const bad = g.param('rv', [4]);
    expect(() => g.apply('batch_norm', [x, ...c, bad], { eps: 1e-5, momentum: 0.1, affine: true, countBatches: false })).toThrow(/batch_norm: running_var \[4\] must be \[3\]/);
    expect(() => g.apply('batch_norm', [x, c[2], c[2]], { eps: 1e-5, momentum: 1.5, affine: false, countBatches: false })).toThrow(/momentum 1.5 must lie in \[0, 1\]/);
    expect(() => g.apply('batch_norm_eval', [g.input('x3', [2, 3, 4]), c[2], c[2]], { eps: 1e-5, affine: false })).toThrow(/must be \[N, C\] or \[N, C, H, W\]/);
    const store = new ParameterStore(engine());
    const bn = new BatchNorm1d(3);
    bn.register(store, 'bn');
    expect(() => bn.apply(createGraph(), createGraph().input('x', [2, 5]), { store, training: true })).toThrow(/BatchNorm1d\(3\) got input \[2, 5\]: expected \[batch, 3\]/);
    expect(() => new BatchNorm2d(2).apply(g, x, { store, training: true })).toThrow(ShapeError);
    expect(() => store.gradRange('bn.running_var')).toThrow(/is a buffer, not a trainable parameter/);
    store.dispose();
  });

  it('refuses to plan an in-place update of a computed value', async () => {
    const g = createGraph();
    const x = g.input('x', [2, 2]);
    const stats = g.apply('scale', [g.input('s', [2])], { scale: 1, shift: 0 })[0];
    const [y] = g.apply('batch_norm', [x, stats, stats], { eps: 1e-5, momentum: 0.1, affine: false, countBatches: false });
    const ctx = { software: true, tune: async (_c: string, k: { id: string }[]) => k[0].id };
    await expect(Plan.build(engine(), { schedule: scheduleOf(g), placed: new Map(), outputs: [y] }, ctx)).rejects.toThrow(KernelError);
  });
});

const model = () =>
  new Sequential(
    new Conv2d(2, 3, 3, { padding: 1 }),
    new BatchNorm2d(3),
    ReLU(),
    new Flatten(),
    new Linear(3 * 4 * 3, 5),
    new BatchNorm1d(5, { momentum: 0.2 }),
    new Dropout(0.4, { seed: 9 }),
    new Linear(5, 3),
  );
const X = [6, 2, 4, 3];

async function step(store: ParameterStore, m: Sequential, training: boolean, optimizer?: UpdateRule) {
  return compileStep(engine(), {
    inputs: { x: { shape: X }, labels: { shape: [X[0]], dtype: 'u32' } },
    stores: [store],
    build: (g, { x, labels }) => {
      const logits = m.apply(g, x, { store, training });
      const [loss] = g.apply('softmax_cross_entropy', [logits, labels], {});
      return { outputs: { loss, logits }, minimize: optimizer ? { loss, store, optimizer } : undefined };
    },
  });
}

async function snapshot(store: ParameterStore): Promise<Map<string, Float32Array>> {
  const m = new Map<string, Float32Array>();
  for (const e of store.stateDict) m.set(e.name, await store.read(e.name));
  return m;
}

describe('BatchNorm1d, BatchNorm2d and Dropout in a compiled step', () => {
  it('declares PyTorch names and initial values; buffers sit outside the parameter buffer', async () => {
    const store = new ParameterStore(engine(), { seed: 1 });
    model().register(store);
    expect(store.list.map((e) => e.name)).toEqual(['0.weight', '0.bias', '1.weight', '1.bias', '4.weight', '4.bias', '5.weight', '5.bias', '7.weight', '7.bias']);
    expect(store.buffers.map((e) => e.name)).toEqual(['1.running_mean', '1.running_var', '1.num_batches_tracked', '5.running_mean', '5.running_var', '5.num_batches_tracked']);
    expect(store.entry('5.num_batches_tracked').shape).toEqual([]);
    expect([...(await store.read('1.weight'))]).toEqual([1, 1, 1]);
    expect([...(await store.read('5.bias'))]).toEqual([0, 0, 0, 0, 0]);
    expect([...(await store.read('1.running_mean'))]).toEqual([0, 0, 0]);
    expect([...(await store.read('5.running_var'))]).toEqual([1, 1, 1, 1, 1]);
    expect(store.range('1.running_var').buffer).toBe(store.bufferStorage);
    expect(store.range('1.running_var').buffer).not.toBe(store.paramBuffer);
    store.dispose();
  });

  it('matches the float64 interpreter: loss, SGD update, running statistics (PyTorch formula) and eval mode', async () => {
    const store = new ParameterStore(engine(), { seed: 7 });
    const m = model();
    m.register(store);
    // Non-trivial running statistics, so the momentum update and eval mode are tested on them.
    store.write('1.running_mean', Float32Array.of(0.1, -0.2, 0.3));
    store.write('1.running_var', Float32Array.of(0.5, 1.5, 2));
    store.write('5.bias', uniform(5, 31));
    const train = await step(store, m, true, new SGD({ lr: 0.3 }));
    const x = uniform(X.reduce((a, b) => a * b, 1), 32);
    const labels = integers(X[0], 3, 33);
    const before = await snapshot(store);
    train.run({ x, labels });
    const loss = (await train.read('loss'))[0];

    const g = createGraph();
    const xv = g.input('x', X);
    const lv = g.input('labels', [X[0]], 'u32');
    const [lossV] = g.apply('softmax_cross_entropy', [m.apply(g, xv, { store, training: true }), lv], {});
    const params = g.params.filter((p) => !store.isBuffer(p.name));
    expect(g.params.length - params.length).toBe(6);
    const grads = gradients(g, lossV, params);
    const feeds = new Map<Value, Float64Array>([[xv, f64(x)], [lv, f64(labels)]]);
    for (const p of g.params) feeds.set(p, f64(before.get(p.name)!));
    const env = evaluate(g, feeds, g.nodes.length, 0);
    expect(loss).toBeCloseTo(env.get(lossV)![0], 5);
    for (const p of params) {
      const expected = before.get(p.name)!.map((v, i) => v - 0.3 * env.get(grads.get(p)!)![i]);
      expectClose(await store.read(p.name), expected, { atol: 2e-5, rtol: 1e-4 }, p.name);
    }
    // Running statistics: PyTorch's update from the batch that reached each layer.
    const bnNodes = g.nodes.filter((n) => n.op === 'batch_norm');
    expect(bnNodes.length).toBe(2);
    for (const [node, path, momentum] of [[bnNodes[0], '1', 0.1], [bnNodes[1], '5', 0.2]] as const) {
      const input = node.inputs[0];
      const s = { n: input.shape[0], c: input.shape[1], hw: input.shape.length === 4 ? input.shape[2] * input.shape[3] : 1 };
      const expected = runningUpdateRef(env.get(input)!, s, momentum, before.get(`${path}.running_mean`)!, before.get(`${path}.running_var`)!);
      expectClose(await store.read(`${path}.running_mean`), expected.mean, { atol: 1e-6, rtol: 1e-5 }, `${path}.running_mean`);
      expectClose(await store.read(`${path}.running_var`), expected.variance, { atol: 1e-6, rtol: 1e-5 }, `${path}.running_var`);
    }

    expect([...(await store.read('1.num_batches_tracked'))]).toEqual([1]);
    expect([...(await store.read('5.num_batches_tracked'))]).toEqual([1]);

    // Eval mode: running statistics, no dropout.
    const evalStep = await step(store, m, false);
    evalStep.run({ x, labels });
    const ge = createGraph();
    const xe = ge.input('x', X);
    const logitsE = m.apply(ge, xe, { store, training: false });
    expect(ge.nodes.some((n) => n.op === 'dropout' || n.op === 'batch_norm')).toBe(false);
    const after = await snapshot(store);
    const feedsE = new Map<Value, Float64Array>([[xe, f64(x)]]);
    for (const p of ge.params) feedsE.set(p, f64(after.get(p.name)!));
    expectClose(await evalStep.read('logits'), evaluate(ge, feedsE).get(logitsE)!, { atol: 2e-5, rtol: 1e-4 }, 'eval logits');
    // An eval step leaves the running statistics alone.
    expectClose(await store.read('5.running_var'), after.get('5.running_var')!, { atol: 0, rtol: 0 }, 'eval keeps running_var');

    // Training through eval-mode batch norm (frozen statistics): the SGD update of float64 gradients.
    const frozen = await step(store, m, false, new SGD({ lr: 0.3 }));
    frozen.run({ x, labels });
    const [lossE] = ge.apply('softmax_cross_entropy', [logitsE, ge.input('labels', [X[0]], 'u32')], {});
    const paramsE = ge.params.filter((p) => !store.isBuffer(p.name));
    const gradsE = gradients(ge, lossE, paramsE);
    feedsE.set(ge.inputs[1], f64(labels));
    const envE = evaluate(ge, feedsE);
    for (const p of paramsE) {
      const expected = after.get(p.name)!.map((v, i) => v - 0.3 * envE.get(gradsE.get(p)!)![i]);
      expectClose(await store.read(p.name), expected, { atol: 2e-5, rtol: 1e-4 }, `eval-mode ${p.name}`);
    }
    for (const e of store.buffers) expect([...(await store.read(e.name))], e.name).toEqual([...after.get(e.name)!]);
    train.dispose();
    evalStep.dispose();
    frozen.dispose();
    store.dispose();
  });

  it('keeps memory flat over 200 steps; AdamW weight decay never touches running statistics', async () => {
    const store = new ParameterStore(engine(), { seed: 2 });
    const m = model();
    m.register(store);
    const train = await step(store, m, true, new SGD({ lr: 0.3 }));
    const x = uniform(X.reduce((a, b) => a * b, 1), 41);
    const labels = integers(X[0], 3, 42);
    train.run({ x, labels });
    const first = (await train.read('loss'))[0];
    const buffers = engine().stats.liveBuffers;
    const bytes = engine().stats.liveBytes;
    for (let i = 0; i < 200; i++) train.run({ x, labels });
    const last = (await train.read('loss'))[0];
    expect(engine().stats.liveBuffers).toBe(buffers);
    expect(engine().stats.liveBytes).toBe(bytes);
    expect(Number.isFinite(last)).toBe(true);
    expect(last).toBeLessThan(first);
    expect(train.runCount).toBe(201);
    expect([...(await store.read('5.num_batches_tracked'))]).toEqual([201]);

    // Eval-mode forward with a decaying optimizer: parameters move, buffers are exactly unchanged.
    const decay = await step(store, m, false, new AdamW({ lr: 0.05, weightDecay: 0.5 }));
    const before = await snapshot(store);
    for (let i = 0; i < 3; i++) decay.run({ x, labels });
    const after = await snapshot(store);
    for (const e of store.buffers) expect([...after.get(e.name)!], e.name).toEqual([...before.get(e.name)!]);
    expect(after.get('1.weight')!.some((v, i) => v !== before.get('1.weight')![i])).toBe(true);
    train.dispose();
    decay.dispose();
    store.dispose();
  });

  it('checkpoints running statistics under PyTorch names and loads them back', async () => {
    const options = { model: model(), inputShape: X.slice(1), classes: 3, optimizer: new SGD({ lr: 0.1 }) };
    const trainer = new Trainer(engine(), options);
    trainer.store.write('1.running_mean', Float32Array.of(1, 2, 3));
    trainer.store.write('5.running_var', Float32Array.of(5, 4, 3, 2, 1));
    trainer.store.write('5.num_batches_tracked', Float32Array.of(17));
    const bytes = await trainer.checkpoint();
    const { tensors } = decodeSafetensors(bytes);
    expect([...tensors.keys()]).toEqual(expect.arrayContaining(['1.running_mean', '1.running_var', '1.num_batches_tracked', '5.running_mean', '5.running_var', '5.weight']));
    expect(tensors.get('1.num_batches_tracked')!.shape).toEqual([]);
    expect([...tensors.get('5.running_var')!.data]).toEqual([5, 4, 3, 2, 1]);
    const other = new Trainer(engine(), { ...options, model: model(), seed: 99 });
    other.load(bytes);
    for (const e of other.store.stateDict) expect([...(await other.store.read(e.name))], e.name).toEqual([...(await trainer.store.read(e.name))]);
    trainer.dispose();
    other.dispose();
  });

  it('leaves no buffers alive', () => {
    expect(engine().stats.liveBuffers).toBe(0);
  });
});
