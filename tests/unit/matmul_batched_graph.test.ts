import { describe, expect, it } from 'vitest';
import { gradients } from '../../src/graph/autodiff.js';
import { compileStep } from '../../src/graph/compile.js';
import { createGraph } from '../../src/graph/graph.js';
import type { Value } from '../../src/graph/ir.js';
import { ParameterStore } from '../../src/graph/params.js';
import { GELU, Linear, ReLU, Sequential } from '../../src/nn/layers.js';
import { SGD } from '../../src/optim/optimizers.js';
import { expectClose, numericGradient } from '../helpers/compare.js';
import { useEngine } from '../helpers/engine.js';
import { uniform } from '../helpers/random.js';
import { runGraphOnGpu } from '../helpers/run_graph.js';
import { evaluate } from '../reference/graph.js';

const engine = useEngine();
const f64 = (a: ArrayLike<number>) => Float64Array.from(a);
const stored = (rows: number, cols: number, trans: boolean) => (trans ? [cols, rows] : [rows, cols]);

/** loss = mse(op(A)·op(B), t) with A [batch, M, K] and B batched ([batch, K, N]) or shared ([K, N]). */
function productGraph(batch: number, M: number, K: number, N: number, transA: boolean, transB: boolean, shared: boolean) {
  const g = createGraph();
  const a = g.input('a', [batch, ...stored(M, K, transA)]);
  const b = g.input('b', shared ? stored(K, N, transB) : [batch, ...stored(K, N, transB)]);
  const [c] = g.apply('matmul', [a, b], { transA, transB });
  const t = g.input('t', c.shape);
  const [loss] = g.apply('mse', [c, t], {});
  const end = g.nodes.length;
  const grads = gradients(g, loss, [a, b]);
  const data = new Map<Value, Float32Array>([[a, uniform(a.size, 1)], [b, uniform(b.size, 2)], [t, uniform(t.size, 3)]]);
  return { g, a, b, c, loss, end, grads, data };
}

// Batch 1 and 3; M = 1; sizes that are not multiples of a tile.
const CASES: [number, number, number, number][] = [[3, 5, 7, 6], [1, 4, 3, 9], [2, 1, 5, 3], [4, 17, 19, 13]];
const COMBOS = [[false, false], [false, true], [true, false], [true, true]] as const;

describe('batched matmul in the graph', () => {
  it('[B, M, K]·[B, K, N] and [B, M, K]·[K, N]: autodiff matches finite differences (float64)', () => {
    for (const [batch, M, K, N] of CASES.slice(0, 3)) {
      for (const [transA, transB] of COMBOS) {
        for (const shared of [false, true]) {
          if (shared && transA) continue;
          const { g, a, b, c, loss, end, grads, data } = productGraph(batch, M, K, N, transA, transB, shared);
          expect(c.shape).toEqual([batch, M, N]);
          const feeds = new Map<Value, Float64Array>([...data].map(([v, d]) => [v, f64(d)]));
          const env = evaluate(g, feeds);
          for (const v of [a, b]) {
            const numeric = numericGradient((p) => evaluate(g, new Map(feeds).set(v, p), end).get(loss)![0], feeds.get(v)!);
            expectClose(env.get(grads.get(v)!)!, numeric, { atol: 1e-9, rtol: 1e-6 }, `d${v.name} ${batch}×${M}×${K}×${N} ${transA}${transB} shared=${shared}`);
          }
        }
      }
    }
  });

  it('the GPU forward and both gradients match float64, every transposition, batched and shared B', async () => {
    for (const [batch, M, K, N] of CASES) {
      for (const [transA, transB] of COMBOS) {
        for (const shared of [false, true]) {
          if (shared && transA) continue;
          const { g, c, loss, grads, data } = productGraph(batch, M, K, N, transA, transB, shared);
          const wanted = [c, loss, ...grads.values()];
          const got = await runGraphOnGpu(engine(), g, data, wanted, true);
          const want = evaluate(g, new Map([...data].map(([v, d]) => [v, f64(d)])));
          for (const v of wanted) expectClose(got.get(v)!, want.get(v)!, { atol: 1e-5, rtol: 1e-4 }, `${v.name} ${batch}×${M}×${K}×${N} ${transA}${transB} shared=${shared}`);
        }
      }
    }
  });

  it('fuses bias and ReLU into a [B, T, K]·[N, K]ᵀ product and the ReLU gradient into its backward (compiled step)', async () => {
    const [B, T, K, N] = [3, 5, 6, 7];
    const store = new ParameterStore(engine(), { seed: 8 });
    for (const [name, shape] of [['w1', [N, K]], ['b1', [N]], ['w2', [K, N]]] as const) store.add(name, shape, { kind: 'uniform', low: -0.8, high: 0.8 });
    const forward = (g: ReturnType<typeof createGraph>, x: Value) => {
      const mm = (a: Value, w: string) => g.apply('matmul', [a, store.value(g, w)], { transA: false, transB: true })[0];
      const h = g.apply('activation', [g.apply('bias_add', [mm(x, 'w1'), store.value(g, 'b1')], { axis: -1 })[0]], { activation: { kind: 'relu' } })[0];
      return mm(h, 'w2');
    };
    const compile = (fuse: boolean) =>
      compileStep(engine(), {
        inputs: { x: { shape: [B, T, K] }, t: { shape: [B, T, K] } },
        stores: [store],
        fuse,
        build: (g, { x, t }) => {
          const [loss] = g.apply('mse', [forward(g, x), t], {});
          const dx = gradients(g, loss, [x]).get(x)!;
          return { outputs: { loss, dx }, minimize: { loss, store, optimizer: new SGD({ lr: 0.5 }) } };
        },
      });
    const unfused = await compile(false);
    const step = await compile(true);
    // bias and ReLU into the first product, ReLU' into dH = dY·W2: at least three launches fewer.
    expect(step.stats.dispatches).toBeLessThanOrEqual(unfused.stats.dispatches - 3);
    unfused.dispose();
    const [x, t] = [uniform(B * T * K, 9), uniform(B * T * K, 10)];
    const before = new Map<string, Float32Array>();
    for (const p of store.list) before.set(p.name, await store.read(p.name));
    step.run({ x, t });
    const g = createGraph();
    const [xv, tv] = [g.input('x', [B, T, K]), g.input('t', [B, T, K])];
    const [lossV] = g.apply('mse', [forward(g, xv), tv], {});
    const grads = gradients(g, lossV, [...g.params, xv]);
    const feeds = new Map<Value, Float64Array>([[xv, f64(x)], [tv, f64(t)]]);
    for (const p of g.params) feeds.set(p, f64(before.get(p.name)!));
    const env = evaluate(g, feeds);
    expectClose(await step.read('dx'), env.get(grads.get(xv)!)!, { atol: 1e-6, rtol: 1e-4 }, 'dx');
    for (const p of g.params) {
      const expected = before.get(p.name)!.map((v, i) => v - 0.5 * env.get(grads.get(p)!)![i]);
      expectClose(await store.read(p.name), expected, { atol: 1e-5, rtol: 1e-4 }, p.name);
    }
    step.dispose();
    store.dispose();
  });

  it('refuses shapes it cannot multiply, with the fix', () => {
    const g = createGraph();
    const a3 = g.input('a', [2, 3, 4]);
    expect(() => g.apply('matmul', [a3, g.input('b', [3, 5])], { transA: true, transB: false })).toThrow(/a transposed batched A needs B batched too/);
    expect(() => g.apply('matmul', [g.input('a2', [3, 4]), g.input('b3', [2, 4, 5])], { transA: false, transB: false })).toThrow(/or A 3-D and B 2-D/);
    expect(() => g.apply('matmul', [a3, g.input('b4', [3, 4, 5])], { transA: false, transB: false })).toThrow(/batch sizes 2 and 3/);
  });
});

describe('Linear on [batch, time, features] in a compiled step', () => {
  // Fusion folds bias and ReLU into the 3-D product; GELU stays a separate op.
  for (const shape of [[3, 5, 7], [1, 1, 4], [2, 3, 2, 6]]) {
    it(`matches the float64 loss and SGD update on input [${shape}]`, async () => {
      const D = shape[shape.length - 1];
      const store = new ParameterStore(engine(), { seed: 4 });
      const model = new Sequential(new Linear(D, 9), ReLU(), new Linear(9, 5), GELU(), new Linear(5, 3, { bias: false }));
      model.register(store);
      const out = [...shape.slice(0, -1), 3];
      const step = await compileStep(engine(), {
        inputs: { x: { shape }, t: { shape: out } },
        stores: [store],
        build: (g, { x, t }) => {
          const y = model.apply(g, x, { store, training: true });
          const [loss] = g.apply('mse', [y, t], {});
          return { outputs: { loss, y }, minimize: { loss, store, optimizer: new SGD({ lr: 0.5 }) } };
        },
      });
      const n = shape.reduce((p, q) => p * q, 1);
      const [x, t] = [uniform(n, 7, -2, 2), uniform((n / D) * 3, 8)];
      const before = new Map<string, Float32Array>();
      for (const p of store.list) before.set(p.name, await store.read(p.name));
      step.run({ x, t });

      const g = createGraph();
      const [xv, tv] = [g.input('x', shape), g.input('t', out)];
      const yv = model.apply(g, xv, { store, training: true });
      expect(yv.shape).toEqual(out);
      const [lossV] = g.apply('mse', [yv, tv], {});
      const grads = gradients(g, lossV, g.params);
      const feeds = new Map<Value, Float64Array>([[xv, f64(x)], [tv, f64(t)]]);
      for (const p of g.params) feeds.set(p, f64(before.get(p.name)!));
      const env = evaluate(g, feeds);
      expectClose(await step.read('y'), env.get(yv)!, { atol: 1e-5, rtol: 1e-4 }, 'y');
      expectClose(await step.read('loss'), env.get(lossV)!, { atol: 1e-6, rtol: 1e-5 }, 'loss');
      for (const p of g.params) {
        const expected = before.get(p.name)!.map((v, i) => v - 0.5 * env.get(grads.get(p)!)![i]);
        expectClose(await store.read(p.name), expected, { atol: 1e-5, rtol: 1e-4 }, p.name);
      }
      step.dispose();
      store.dispose();
    });
  }

  it('costs the launches of the same Linear on the flattened 2-D input (bias gradient still fused)', async () => {
    const store = new ParameterStore(engine(), { seed: 2 });
    const lin = new Linear(7, 4);
    lin.register(store);
    const dispatches = async (shape: number[]) => {
      const step = await compileStep(engine(), {
        inputs: { x: { shape }, t: { shape: [...shape.slice(0, -1), 4] } },
        stores: [store],
        build: (g, { x, t }) => {
          const [loss] = g.apply('mse', [lin.apply(g, x, { store, training: true }), t], {});
          return { outputs: { loss }, minimize: { loss, store, optimizer: new SGD({ lr: 0.1 }) } };
        },
      });
      const n = step.stats.dispatches;
      step.dispose();
      return n;
    };
    expect(await dispatches([3, 5, 7])).toBe(await dispatches([15, 7]));
    store.dispose();
  });

  it('names the layer and the expected last axis when features differ', () => {
    const g = createGraph();
    const store = new ParameterStore(engine(), { seed: 1 });
    const lin = new Linear(4, 2);
    lin.register(store);
    expect(() => lin.apply(g, g.input('x', [2, 3, 5]), { store, training: true })).toThrow(/Linear\(4→2\) got input \[2, 3, 5\]: expected \[\.\.\., 4\]/);
    store.dispose();
  });
});
