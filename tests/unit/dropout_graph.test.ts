import { describe, expect, it } from 'vitest';
import { gradients } from '../../src/graph/autodiff.js';
import { compileStep } from '../../src/graph/compile.js';
import { createGraph } from '../../src/graph/graph.js';
import type { Value } from '../../src/graph/ir.js';
import { ParameterStore } from '../../src/graph/params.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { Dropout } from '../../src/nn/dropout.js';
import { Linear, Sequential, Tanh } from '../../src/nn/layers.js';
import { SGD } from '../../src/optim/optimizers.js';
import { expectClose, numericGradient } from '../helpers/compare.js';
import { useEngine } from '../helpers/engine.js';
import { uniform } from '../helpers/random.js';
import { evaluate } from '../reference/graph.js';
import { dropoutKeepRef } from '../reference/random.js';

const engine = useEngine();
const f64 = (a: ArrayLike<number>) => Float64Array.from(a);

describe('dropout graph op (float64 interpreter)', () => {
  it('applies the Philox mask of the run index, scaled by 1/(1 − p)', () => {
    const g = createGraph();
    const x = g.input('x', [3, 11]);
    const [y] = g.apply('dropout', [x], { p: 0.3, seed: 5 });
    const data = f64(uniform(33, 1));
    for (const run of [0, 1, 7]) {
      const keep = dropoutKeepRef(33, 0.3, 5, run);
      expectClose(evaluate(g, new Map([[x, data]]), g.nodes.length, run).get(y)!, data.map((v, i) => (keep[i] ? v / 0.7 : 0)), { atol: 1e-15, rtol: 1e-15 }, `run ${run}`);
    }
  });

  it('differentiates through dropout by finite differences at a fixed run', () => {
    const g = createGraph();
    const w = g.param('w', [4, 6]);
    const x = g.input('x', [5, 6]);
    let h = g.apply('matmul', [x, w], { transA: false, transB: true })[0];
    h = g.apply('dropout', [h], { p: 0.5, seed: 77 })[0];
    h = g.apply('activation', [h], { activation: { kind: 'tanh' } })[0];
    const t = g.input('t', [5, 4]);
    const [loss] = g.apply('mse', [h, t], {});
    const end = g.nodes.length;
    const grads = gradients(g, loss, [w]);
    const feeds = new Map<Value, Float64Array>([[w, f64(uniform(24, 2))], [x, f64(uniform(30, 3))], [t, f64(uniform(20, 4))]]);
    for (const run of [0, 3]) {
      const numeric = numericGradient((v) => evaluate(g, new Map(feeds).set(w, v), end, run).get(loss)![0], feeds.get(w)!);
      const analytic = evaluate(g, feeds, g.nodes.length, run).get(grads.get(w)!)!;
      expectClose(analytic, numeric, { atol: 1e-7, rtol: 1e-6 }, `run ${run}`);
    }
  });

  it('raises shape errors at build time', () => {
    const g = createGraph();
    const x = g.input('x', [2, 2]);
    expect(() => g.apply('dropout', [x], { p: 1.5, seed: 1 })).toThrow(/dropout: drop probability p = 1.5 must lie in \[0, 1\]/);
    expect(() => g.apply('dropout', [x], { p: 0.5, seed: -1 })).toThrow(/seed -1 must be an integer/);
    expect(() => g.apply('dropout', [g.input('l', [2], 'u32')], { p: 0.5, seed: 1 })).toThrow(ShapeError);
    expect(() => new Dropout(-0.1)).toThrow(/Dropout: p = -0.1 must lie in \[0, 1\]/);
  });
});

describe('Dropout in a compiled step', () => {
  const X = [8, 6];
  const model = (seed?: number) => new Sequential(new Linear(6, 9), Tanh(), new Dropout(0.4, { seed }), new Linear(9, 2));

  async function compile(store: ParameterStore, m: Sequential, training: boolean) {
    return compileStep(engine(), {
      inputs: { x: { shape: X }, t: { shape: [X[0], 2] } },
      stores: [store],
      build: (g, { x, t }) => {
        const out = m.apply(g, x, { store, training });
        const [loss] = g.apply('mse', [out, t], {});
        return { outputs: { loss, out }, minimize: training ? { loss, store, optimizer: new SGD({ lr: 0.2 }) } : undefined };
      },
    });
  }

  it('draws a fresh mask every run (forward and backward agree), reproducibly from the seed, with no allocation', async () => {
    const store = new ParameterStore(engine(), { seed: 4 });
    const m = model(1234);
    m.register(store);
    const step = await compile(store, m, true);
    const x = uniform(48, 5);
    const t = uniform(16, 6);
    let buffers = 0;
    let bytes = 0;

    const g = createGraph();
    const xv = g.input('x', X);
    const tv = g.input('t', [X[0], 2]);
    const [lossV] = g.apply('mse', [m.apply(g, xv, { store, training: true }), tv], {});
    const grads = gradients(g, lossV, g.params);
    for (let run = 0; run < 3; run++) {
      const before = new Map<string, Float32Array>();
      for (const p of store.list) before.set(p.name, await store.read(p.name));
      step.run({ x, t });
      if (run === 0) {
        buffers = engine().stats.liveBuffers;
        bytes = engine().stats.liveBytes;
      }
      const feeds = new Map<Value, Float64Array>([[xv, f64(x)], [tv, f64(t)]]);
      for (const p of g.params) feeds.set(p, f64(before.get(p.name)!));
      const env = evaluate(g, feeds, g.nodes.length, run);
      expect((await step.read('loss'))[0]).toBeCloseTo(env.get(lossV)![0], 5);
      for (const p of g.params) {
        const expected = before.get(p.name)!.map((v, i) => v - 0.2 * env.get(grads.get(p)!)![i]);
        expectClose(await store.read(p.name), expected, { atol: 1e-6, rtol: 1e-5 }, `run ${run}: ${p.name}`);
      }
    }
    expect(engine().stats.liveBuffers).toBe(buffers);
    expect(engine().stats.liveBytes).toBe(bytes);
    step.dispose();

    // The same seed replays the same masks: identical parameters and input give identical outputs.
    const a = new ParameterStore(engine(), { seed: 4 });
    const b = new ParameterStore(engine(), { seed: 4 });
    const [ma, mb] = [model(), model()];
    ma.register(a);
    mb.register(b);
    const [sa, sb] = [await compile(a, ma, true), await compile(b, mb, true)];
    for (let i = 0; i < 2; i++) {
      sa.run({ x, t });
      sb.run({ x, t });
      expect([...(await sa.read('out'))]).toEqual([...(await sb.read('out'))]);
    }
    for (const s of [sa, sb]) s.dispose();
    a.dispose();
    b.dispose();
    store.dispose();
  });

  it('keeps about 1 − p of a large activation, changes mask between runs, and is the identity in eval mode', async () => {
    const store = new ParameterStore(engine());
    const n = [64, 64];
    const run = await compileStep(engine(), {
      inputs: { x: { shape: n } },
      stores: [store],
      build: (g, { x }) => ({ outputs: { y: new Dropout(0.3, { seed: 8 }).apply(g, x, { store, training: true }) } }),
    });
    const ones = new Float32Array(64 * 64).fill(1);
    run.run({ x: ones });
    const first = await run.read('y');
    run.run({ x: ones });
    const second = await run.read('y');
    for (const y of [first, second]) {
      const kept = y.filter((v) => v !== 0);
      // Binomial standard error √(0.21/4096) ≈ 0.007: five of them.
      expect(Math.abs(kept.length / y.length - 0.7)).toBeLessThan(0.035);
      expectClose(kept, new Float32Array(kept.length).fill(1 / 0.7), { atol: 0, rtol: 1e-6 }, 'scale');
    }
    const changed = first.filter((v, i) => (v === 0) !== (second[i] === 0)).length;
    // Independent masks disagree on 2·0.3·0.7 = 42% of the elements.
    expect(changed / first.length).toBeGreaterThan(0.3);
    run.dispose();

    const evalStep = await compileStep(engine(), {
      inputs: { x: { shape: n } },
      stores: [store],
      build: (g, { x }) => {
        const y = new Dropout(0.3).apply(g, x, { store, training: false });
        expect(y).toBe(x);
        return { outputs: { y: g.apply('scale', [y], { scale: 1, shift: 0 })[0] } };
      },
    });
    const data = uniform(64 * 64, 9);
    evalStep.run({ x: data });
    expect([...(await evalStep.read('y'))]).toEqual([...data]);
    evalStep.dispose();
    store.dispose();
  });

  it('leaves no buffers alive', () => {
    expect(engine().stats.liveBuffers).toBe(0);
  });
});
