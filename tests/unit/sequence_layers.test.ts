import { describe, expect, it } from 'vitest';
import { gradients } from '../../src/graph/autodiff.js';
import { compileStep } from '../../src/graph/compile.js';
import { createGraph } from '../../src/graph/graph.js';
import type { Graph, Value } from '../../src/graph/ir.js';
import { ParameterStore } from '../../src/graph/params.js';
import { Conv2d } from '../../src/nn/conv.js';
import { crossEntropy } from '../../src/nn/cross_entropy.js';
import { Embedding } from '../../src/nn/embedding.js';
import { AdaptiveAvgPool2d, Flatten, GELU, Linear, ReLU, Residual, Sequential } from '../../src/nn/layers.js';
import type { Module } from '../../src/nn/module.js';
import { LayerNorm } from '../../src/nn/normalization.js';
import { SGD } from '../../src/optim/optimizers.js';
import { expectClose, numericGradient } from '../helpers/compare.js';
import { useEngine } from '../helpers/engine.js';
import { integers, uniform } from '../helpers/random.js';
import { runGraphOnGpu } from '../helpers/run_graph.js';
import { evaluate } from '../reference/graph.js';
import { crossEntropy as crossEntropyRef } from '../reference/softmax_cross_entropy.js';
import { softmax } from '../reference/softmax.js';

const engine = useEngine();
const f64 = (a: ArrayLike<number>) => Float64Array.from(a);

describe('cross-entropy over [B, T, V]', () => {
  // 96 classes (a character vocabulary); 3·43 = 129 positions take the one-workgroup kernel, 2·601
  // = 1202 the per-row kernel and its sums: neither a multiple of a workgroup.
  for (const [B, T] of [[3, 43], [2, 601], [1, 1]]) {
    it(`is PyTorch's mean over B·T positions, with its gradient, for [${B}, ${T}, 96]`, async () => {
      const V = 96;
      const logits = uniform(B * T * V, B + T, -4, 4);
      const labels = integers(B * T, V, T);
      const step = await compileStep(engine(), {
        inputs: { logits: { shape: [B, T, V] }, labels: { shape: [B, T], dtype: 'u32' } },
        stores: [],
        build: (g, inputs) => {
          const { loss, correct, invalid } = crossEntropy(g, inputs.logits, inputs.labels);
          return { outputs: { loss, correct, invalid, dlogits: gradients(g, loss, [inputs.logits]).get(inputs.logits)! } };
        },
      });
      step.run({ logits, labels });
      expect((await step.read('loss'))[0]).toBeCloseTo(crossEntropyRef(logits, labels, V), 5);
      const p = softmax(logits, V);
      const expected = p.map((v, i) => (v - (labels[Math.floor(i / V)] === i % V ? 1 : 0)) / (B * T));
      expectClose(await step.read('dlogits'), expected, { atol: 1e-8, rtol: 1e-4 }, 'dlogits');
      expect((await step.read('invalid'))[0]).toBe(0);
      step.dispose();
    });
  }

  it('the kernels a GPU gets (a workgroup per row from 64 classes) match float64 too', async () => {
    for (const [B, T] of [[3, 43], [2, 601]]) {
      const g = createGraph();
      const x = g.input('x', [B, T, 96]);
      const y = g.input('y', [B, T], 'u32');
      const { loss, correct } = crossEntropy(g, x, y);
      const dx = gradients(g, loss, [x]).get(x)!;
      const data = new Map<Value, Float32Array | Uint32Array>([[x, uniform(x.size, T, -4, 4)], [y, integers(B * T, 96, B)]]);
      const got = await runGraphOnGpu(engine(), g, data, [loss, correct, dx], false);
      const want = evaluate(g, new Map([...data].map(([v, d]) => [v, f64(d)])));
      for (const v of [loss, correct, dx]) expectClose(got.get(v)!, want.get(v)!, { atol: 1e-7, rtol: 1e-4 }, `${v.name} [${B}, ${T}, 96]`);
    }
  });

  it('the float64 graph gradient matches finite differences, and bad shapes are refused', () => {
    const g = createGraph();
    const x = g.input('x', [2, 3, 5]);
    const y = g.input('y', [2, 3], 'u32');
    const { loss } = crossEntropy(g, x, y);
    const end = g.nodes.length;
    const dx = gradients(g, loss, [x]).get(x)!;
    const feeds = new Map<Value, Float64Array>([[x, f64(uniform(30, 1, -3, 3))], [y, f64(integers(6, 5, 2))]]);
    const numeric = numericGradient((v) => evaluate(g, new Map(feeds).set(x, v), end).get(loss)![0], feeds.get(x)!);
    expectClose(evaluate(g, feeds).get(dx)!, numeric, { atol: 1e-9, rtol: 1e-6 });
    // ignoreIndex reaches the kernel: ignored positions leave the mean, as PyTorch's ignore_index.
    const kept = crossEntropy(g, x, y, { ignoreIndex: 4 }).loss;
    const labels = Float64Array.of(4, 1, 4, 0, 2, 3);
    const env2 = evaluate(g, new Map(feeds).set(y, labels));
    const keep = [1, 3, 4, 5];
    const rows = keep.map((r) => feeds.get(x)!.subarray(r * 5, r * 5 + 5));
    expect(env2.get(kept)![0]).toBeCloseTo(crossEntropyRef(rows.flatMap((r) => [...r]), keep.map((r) => labels[r]), 5), 12);
    expect(() => crossEntropy(g, x, g.input('y2', [3, 2], 'u32'))).toThrow(/expected logits \[\.\.\., classes\] with at least a batch axis and u32 labels of their leading shape \[2, 3\]/);
    expect(() => crossEntropy(g, x, g.input('y3', [2, 3]))).toThrow(/labels \[2, 3\] \(f32\)/);
  });
});

interface Fed {
  shape: number[];
  dtype?: 'u32';
  data: Float32Array | Uint32Array;
}

/**
 * One SGD step of `model` on x in a compiled step (fused), against the float64 interpreter's
 * gradients; `loss` turns the model's output and the target input t into a scalar.
 */
async function checkSgdStep(model: Module, x: Fed, t: Fed, loss: (g: Graph, out: Value, t: Value) => Value, names: string[]) {
  const store = new ParameterStore(engine(), { seed: 3 });
  model.register(store);
  expect(store.list.map((e) => e.name)).toEqual(names);
  const step = await compileStep(engine(), {
    inputs: { x: { shape: x.shape, dtype: x.dtype }, t: { shape: t.shape, dtype: t.dtype } },
    stores: [store],
    build: (g, inputs) => {
      const l = loss(g, model.apply(g, inputs.x, { store, training: true }), inputs.t);
      return { outputs: { loss: l }, minimize: { loss: l, store, optimizer: new SGD({ lr: 0.5 }) } };
    },
  });
  const before = new Map<string, Float32Array>();
  for (const p of store.list) before.set(p.name, await store.read(p.name));
  step.run({ x: x.data, t: t.data });
  const g = createGraph();
  const [xv, tv] = [g.input('x', x.shape, x.dtype), g.input('t', t.shape, t.dtype)];
  const lossV = loss(g, model.apply(g, xv, { store, training: true }), tv);
  const grads = gradients(g, lossV, g.params);
  const feeds = new Map<Value, Float64Array>([[xv, f64(x.data)], [tv, f64(t.data)]]);
  for (const p of g.params) feeds.set(p, f64(before.get(p.name)!));
  const env = evaluate(g, feeds);
  expect((await step.read('loss'))[0]).toBeCloseTo(env.get(lossV)![0], 5);
  for (const p of g.params) {
    const expected = before.get(p.name)!.map((v, i) => v - 0.5 * env.get(grads.get(p)!)![i]);
    expectClose(await store.read(p.name), expected, { atol: 2e-5, rtol: 1e-4 }, p.name);
  }
  step.dispose();
  store.dispose();
}

describe('Embedding, LayerNorm, Residual and AdaptiveAvgPool2d layers', () => {
  it('a tiny character model (embedding → residual pre-LayerNorm MLP → LayerNorm → logits) matches float64 after an SGD step', async () => {
    const [B, T, V, D] = [3, 5, 11, 8];
    const model = new Sequential(
      new Embedding(V, D),
      new Residual(new Sequential(new LayerNorm(D), new Linear(D, 12), GELU(), new Linear(12, D))),
      new LayerNorm(D, { eps: 1e-3 }),
      new Linear(D, V),
    );
    await checkSgdStep(
      model,
      { shape: [B, T], dtype: 'u32', data: integers(B * T, V, 9) },
      { shape: [B, T], dtype: 'u32', data: integers(B * T, V, 10) },
      (g, out, t) => crossEntropy(g, out, t).loss,
      ['0.weight', '1.0.weight', '1.0.bias', '1.1.weight', '1.1.bias', '1.3.weight', '1.3.bias', '2.weight', '2.bias', '3.weight', '3.bias'],
    );
  });

  it('a convolutional head with global average pooling matches float64 after an SGD step', async () => {
    const model = new Sequential(new Conv2d(2, 3, 3, { padding: 1 }), ReLU(), new AdaptiveAvgPool2d(1), new Flatten(), new Linear(3, 4));
    await checkSgdStep(
      model,
      { shape: [2, 2, 5, 3], data: uniform(60, 11) },
      { shape: [2], dtype: 'u32', data: Uint32Array.of(3, 0) },
      (g, out, t) => crossEntropy(g, out, t).loss,
      ['0.weight', '0.bias', '4.weight', '4.bias'],
    );
  });

  it('AdaptiveAvgPool2d(1) is the mean of each plane, [N, C, H, W] → [N, C, 1, 1]', () => {
    const g = createGraph();
    const x = g.input('x', [2, 3, 4, 5]);
    const store = new ParameterStore(engine());
    const y = new AdaptiveAvgPool2d(1).apply(g, x, { store, training: false });
    expect(y.shape).toEqual([2, 3, 1, 1]);
    const data = f64(uniform(120, 12));
    const got = evaluate(g, new Map([[x, data]])).get(y)!;
    for (let p = 0; p < 6; p++) expect(got[p]).toBeCloseTo(data.subarray(p * 20, p * 20 + 20).reduce((a, b) => a + b, 0) / 20, 12);
    expect(() => new AdaptiveAvgPool2d(2)).toThrow(/only 1 \(global average pooling\)/);
    expect(() => new AdaptiveAvgPool2d(1).apply(g, g.input('x3', [2, 3, 4]), { store, training: false })).toThrow(/AdaptiveAvgPool2d\(1\) got input \[2, 3, 4\]: expected \[batch, channels, height, width\]/);
    store.dispose();
  });

  it('Embedding counts out-of-range tokens; layers name themselves in shape errors', async () => {
    const store = new ParameterStore(engine(), { seed: 1 });
    const emb = new Embedding(4, 3);
    emb.register(store);
    const step = await compileStep(engine(), {
      inputs: { x: { shape: [5], dtype: 'u32' } },
      stores: [store],
      build: (g, { x }) => {
        const [a, b] = [emb.apply(g, x, { store, training: true }), emb.apply(g, x, { store, training: true })];
        return { outputs: { y: g.apply('add', [a, b], {})[0], invalid: emb.invalidCount(g)! } };
      },
    });
    step.run({ x: Uint32Array.of(0, 4, 3, 9, 1) });
    // Two applications of the layer in the graph, two bad tokens each.
    expect((await step.read('invalid'))[0]).toBe(4);
    const w = await store.read('weight');
    expectClose((await step.read('y')).subarray(6, 9), w.subarray(9, 12).map((v) => 2 * v), { atol: 0, rtol: 0 });
    expect([...(await step.read('y')).subarray(3, 6)]).toEqual([0, 0, 0]);
    step.dispose();

    const g = createGraph();
    expect(() => emb.apply(g, g.input('f', [5]), { store, training: true })).toThrow(/Embedding\(4, 3\) got f32 input \[5\]: expected u32 indices in \[0, 4\)/);
    expect(() => new LayerNorm(6).apply(g, g.input('h', [2, 5]), { store, training: true })).toThrow(/LayerNorm\(6\) got input \[2, 5\]: expected \[\.\.\., 6\]/);
    const res = new Residual(new Linear(5, 4));
    const resStore = new ParameterStore(engine());
    res.register(resStore, 'res');
    expect(resStore.list.map((e) => e.name)).toEqual(['res.weight', 'res.bias']);
    expect(() => res.apply(g, g.input('r', [2, 5]), { store: resStore, training: true })).toThrow(/Residual\(Linear\(5→4\)\): the inner output \[2, 4\] differs from the input \[2, 5\]/);
    resStore.dispose();
    store.dispose();
  });
});
