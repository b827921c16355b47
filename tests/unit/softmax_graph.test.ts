import { describe, expect, it } from 'vitest';
import { gradients } from '../../src/graph/autodiff.js';
import { compileStep } from '../../src/graph/compile.js';
import { createGraph } from '../../src/graph/graph.js';
import type { Value } from '../../src/graph/ir.js';
import { ParameterStore } from '../../src/graph/params.js';
import { Linear, Sequential, Softmax } from '../../src/nn/layers.js';
import { SGD } from '../../src/optim/optimizers.js';
import { expectClose, numericGradient } from '../helpers/compare.js';
import { useEngine } from '../helpers/engine.js';
import { uniform } from '../helpers/random.js';
import { evaluate } from '../reference/graph.js';

const engine = useEngine();
const f64 = (a: ArrayLike<number>) => Float64Array.from(a);

describe('softmax graph op (float64 interpreter)', () => {
  it('rows sum to one, and the gradient matches finite differences', () => {
    for (const shape of [[5, 4], [2, 3, 7], [3, 1]]) {
      const g = createGraph();
      const x = g.param('x', shape);
      const [y] = g.apply('softmax', [x], {});
      const t = g.input('t', shape);
      const [loss] = g.apply('mse', [y, t], {});
      const end = g.nodes.length;
      const grads = gradients(g, loss, [x]);
      const n = y.size;
      const feeds = new Map<Value, Float64Array>([[x, f64(uniform(n, 1)).map((v) => 3 * v)], [t, f64(uniform(n, 2))]]);
      const env = evaluate(g, feeds);
      const C = shape[shape.length - 1];
      for (let r = 0; r < n / C; r++) expect(env.get(y)!.subarray(r * C, r * C + C).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
      const numeric = numericGradient((v) => evaluate(g, new Map(feeds).set(x, v), end).get(loss)![0], feeds.get(x)!);
      expectClose(env.get(grads.get(x)!)!, numeric, { atol: 1e-8, rtol: 1e-6 }, `[${shape}]`);
    }
  });
});

describe('Softmax layer in a compiled step', () => {
  // 130 columns passes the 64-column threshold where GPUs give each row a workgroup.
  for (const [batch, features, classes] of [[3, 6, 5], [1, 4, 1], [2, 3, 130]]) {
    it(`matches the float64 forward and SGD update on [${batch}, ${features}] → ${classes} classes`, async () => {
      const store = new ParameterStore(engine(), { seed: 6 });
      const model = new Sequential(new Linear(features, classes), new Softmax());
      model.register(store);
      const step = await compileStep(engine(), {
        inputs: { x: { shape: [batch, features] }, t: { shape: [batch, classes] } },
        stores: [store],
        build: (g, { x, t }) => {
          const probs = model.apply(g, x, { store, training: true });
          const [loss] = g.apply('mse', [probs, t], {});
          return { outputs: { loss, probs }, minimize: { loss, store, optimizer: new SGD({ lr: 1 }) } };
        },
      });
      const x = uniform(batch * features, 3).map((v) => 4 * v);
      const t = uniform(batch * classes, 4);
      const before = new Map<string, Float32Array>();
      for (const p of store.list) before.set(p.name, await store.read(p.name));
      step.run({ x, t });
      const probs = await step.read('probs');

      const g = createGraph();
      const xv = g.input('x', [batch, features]);
      const tv = g.input('t', [batch, classes]);
      const probsV = model.apply(g, xv, { store, training: true });
      const [lossV] = g.apply('mse', [probsV, tv], {});
      const grads = gradients(g, lossV, g.params);
      const feeds = new Map<Value, Float64Array>([[xv, f64(x)], [tv, f64(t)]]);
      for (const p of g.params) feeds.set(p, f64(before.get(p.name)!));
      const env = evaluate(g, feeds);
      expectClose(probs, env.get(probsV)!, { atol: 1e-6, rtol: 1e-5 }, 'probabilities');
      for (const p of g.params) {
        const expected = before.get(p.name)!.map((v, i) => v - env.get(grads.get(p)!)![i]);
        expectClose(await store.read(p.name), expected, { atol: 1e-6, rtol: 1e-5 }, p.name);
      }
      step.dispose();
      store.dispose();
    });
  }

  it('refuses an axis other than the last when the graph is built', () => {
    const store = new ParameterStore(engine(), { seed: 1 });
    const model = new Sequential(new Linear(4, 3), new Softmax(0));
    model.register(store);
    const g = createGraph();
    expect(() => model.apply(g, g.input('x', [2, 4]), { store, training: false })).toThrow(/Softmax\(dim=0\) on input \[2, 3\]: only the last axis \(dim=-1 or dim=1\) is supported/);
    expect(() => new Softmax(0.5)).toThrow(/Softmax: dim 0.5 must be an integer/);
    store.dispose();
  });

  it('leaves no buffers alive', () => {
    expect(engine().stats.liveBuffers).toBe(0);
  });
});
