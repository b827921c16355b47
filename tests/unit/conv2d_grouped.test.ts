import { describe, expect, it } from 'vitest';
import { gradients } from '../../src/graph/autodiff.js';
import { compileStep } from '../../src/graph/compile.js';
import { createGraph } from '../../src/graph/graph.js';
import type { Value } from '../../src/graph/ir.js';
import type { ConvAttrs } from '../../src/graph/ops/kinds.js';
import { ParameterStore } from '../../src/graph/params.js';
import { Conv2d } from '../../src/nn/conv.js';
import { ReLU, Sequential } from '../../src/nn/layers.js';
import { SGD } from '../../src/optim/optimizers.js';
import { expectClose, numericGradient } from '../helpers/compare.js';
import { useEngine } from '../helpers/engine.js';
import { uniform } from '../helpers/random.js';
import { runGraphOnGpu } from '../helpers/run_graph.js';
import { evaluate } from '../reference/graph.js';

const engine = useEngine();
const f64 = (a: ArrayLike<number>) => Float64Array.from(a);

interface Case {
  x: number[];
  cout: number;
  groups: number;
  k: [number, number];
  attrs: ConvAttrs;
}

// Two groups of 2 → 3 channels; depthwise (groups = channels) with stride, padding and dilation;
// depthwise with a channel multiplier (2 outputs per input) and batch 1.
const CASES: Case[] = [
  { x: [2, 4, 5, 4], cout: 6, groups: 2, k: [3, 2], attrs: { stride: [1, 1], padding: [1, 0], dilation: [1, 1] } },
  { x: [2, 3, 7, 6], cout: 3, groups: 3, k: [3, 3], attrs: { stride: [2, 1], padding: [1, 1], dilation: [1, 2] } },
  { x: [1, 2, 4, 5], cout: 4, groups: 2, k: [2, 3], attrs: { stride: [1, 2], padding: [0, 1], dilation: [2, 1] } },
];

function groupedGraph(c: Case) {
  const g = createGraph();
  const x = g.input('x', c.x);
  const w = g.input('w', [c.cout, c.x[1] / c.groups, ...c.k]);
  const [y] = g.apply('conv2d', [x, w], { ...c.attrs, groups: c.groups });
  const t = g.input('t', y.shape);
  const [loss] = g.apply('mse', [y, t], {});
  const end = g.nodes.length;
  const grads = gradients(g, loss, [x, w]);
  const data = new Map<Value, Float32Array>([[x, uniform(x.size, x.size)], [w, uniform(w.size, w.size + 1)], [t, uniform(t.size, 3)]]);
  return { g, x, w, y, loss, end, grads, data };
}

const feedsOf = (data: Map<Value, ArrayLike<number>>) => new Map<Value, Float64Array>([...data].map(([v, d]) => [v, f64(d)]));

/** Channels [from, from + count) of an NCHW array. */
function channels(a: ArrayLike<number>, shape: readonly number[], from: number, count: number): Float64Array {
  const [n, c, h, w] = shape;
  const plane = h * w;
  const out = new Float64Array(n * count * plane);
  for (let b = 0; b < n; b++) for (let k = 0; k < count; k++) for (let p = 0; p < plane; p++) out[(b * count + k) * plane + p] = a[(b * c + from + k) * plane + p];
  return out;
}

describe('grouped conv2d (groups, depthwise)', () => {
  it('the float64 grouped conv is one ungrouped conv per group, on that group’s channels', () => {
    for (const c of CASES) {
      const { g, x, w, y, data } = groupedGraph(c);
      const got = evaluate(g, feedsOf(data)).get(y)!;
      const [cin, perIn, perOut] = [c.x[1], c.x[1] / c.groups, c.cout / c.groups];
      for (let k = 0; k < c.groups; k++) {
        const h = createGraph();
        const xs = h.input('x', [c.x[0], perIn, c.x[2], c.x[3]]);
        const ws = h.input('w', [perOut, perIn, ...c.k]);
        const [ys] = h.apply('conv2d', [xs, ws], c.attrs);
        const wk = f64(data.get(w)!).subarray(k * perOut * perIn * c.k[0] * c.k[1], (k + 1) * perOut * perIn * c.k[0] * c.k[1]);
        const want = evaluate(h, new Map([[xs, channels(data.get(x)!, c.x, k * perIn, perIn)], [ws, wk]])).get(ys)!;
        expectClose(channels(got, y.shape, k * perOut, perOut), want, { atol: 1e-12, rtol: 1e-12 }, `group ${k} of ${c.groups}, Cin ${cin}`);
      }
    }
  });

  it('autodiff through a grouped conv matches finite differences (float64)', () => {
    for (const c of CASES) {
      const { g, x, w, loss, end, grads, data } = groupedGraph(c);
      const feeds = feedsOf(data);
      const env = evaluate(g, feeds);
      for (const v of [x, w]) {
        const numeric = numericGradient((p) => evaluate(g, new Map(feeds).set(v, p), end).get(loss)![0], feeds.get(v)!);
        expectClose(env.get(grads.get(v)!)!, numeric, { atol: 1e-9, rtol: 1e-6 }, `d${v.name} groups ${c.groups}`);
      }
    }
  });

  it('the GPU kernels (forward, backward data, backward filter) match float64', async () => {
    for (const c of CASES) {
      const { g, y, loss, grads, data } = groupedGraph(c);
      const wanted = [y, loss, ...grads.values()];
      const got = await runGraphOnGpu(engine(), g, data, wanted, true);
      const want = evaluate(g, feedsOf(data));
      for (const v of wanted) expectClose(got.get(v)!, want.get(v)!, { atol: 1e-5, rtol: 1e-4 }, `${v.name} groups ${c.groups}`);
    }
  });

  it('grouped Conv2d layers (depthwise with fused bias + ReLU, then two groups) match float64 after an SGD step', async () => {
    const store = new ParameterStore(engine(), { seed: 5 });
    const model = new Sequential(new Conv2d(4, 8, 3, { groups: 4, padding: 'same' }), ReLU(), new Conv2d(8, 2, [1, 3], { groups: 2 }));
    model.register(store);
    expect(store.list.map((e) => [e.name, e.shape.join('×')])).toEqual([['0.weight', '8×1×3×3'], ['0.bias', '8'], ['2.weight', '2×4×1×3'], ['2.bias', '2']]);
    const shape = [2, 4, 5, 6];
    const out = [2, 2, 5, 4];
    const step = await compileStep(engine(), {
      inputs: { x: { shape }, t: { shape: out } },
      stores: [store],
      build: (g, { x, t }) => {
        const [loss] = g.apply('mse', [model.apply(g, x, { store, training: true }), t], {});
        return { outputs: { loss }, minimize: { loss, store, optimizer: new SGD({ lr: 0.5 }) } };
      },
    });
    const [x, t] = [uniform(240, 6), uniform(80, 7)];
    const before = new Map<string, Float32Array>();
    for (const p of store.list) before.set(p.name, await store.read(p.name));
    step.run({ x, t });
    const g = createGraph();
    const [xv, tv] = [g.input('x', shape), g.input('t', out)];
    const [lossV] = g.apply('mse', [model.apply(g, xv, { store, training: true }), tv], {});
    const grads = gradients(g, lossV, g.params);
    const feeds = new Map<Value, Float64Array>([[xv, f64(x)], [tv, f64(t)]]);
    for (const p of g.params) feeds.set(p, f64(before.get(p.name)!));
    const env = evaluate(g, feeds);
    expect((await step.read('loss'))[0]).toBeCloseTo(env.get(lossV)![0], 5);
    for (const p of g.params) {
      const expected = before.get(p.name)!.map((v, i) => v - 0.5 * env.get(grads.get(p)!)![i]);
      expectClose(await store.read(p.name), expected, { atol: 1e-5, rtol: 1e-4 }, p.name);
    }
    step.dispose();
    store.dispose();
  });

  it('refuses groups that do not divide the channels, and a weight of the wrong shape', () => {
    expect(() => new Conv2d(4, 6, 3, { groups: 4 })).toThrow(/Conv2d\(4→6\): groups 4 must be a positive integer dividing both 4 input and 6 output channels/);
    const g = createGraph();
    const x = g.input('x', [1, 4, 5, 5]);
    const attrs = { stride: [1, 1], padding: [0, 0], dilation: [1, 1] } as const;
    expect(() => g.apply('conv2d', [x, g.input('w', [4, 4, 3, 3])], { ...attrs, groups: 2 })).toThrow(/weight \[4, 4, 3, 3\] must be \[Cout, Cin\/groups = 2, KH, KW\]/);
    expect(() => g.apply('conv2d', [x, g.input('w3', [3, 1, 3, 3])], { ...attrs, groups: 4 })).toThrow(/groups 4 must divide both the input channels 4 and the output channels 3/);
    expect(() => g.apply('conv2d', [x, g.input('w0', [4, 1, 3, 3])], { ...attrs, groups: 0 })).toThrow(/groups 0 must be a positive integer/);
  });
});
