import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gradients } from '../../src/graph/autodiff.js';
import { compileStep } from '../../src/graph/compile.js';
import { createGraph } from '../../src/graph/graph.js';
import type { Graph, Value } from '../../src/graph/ir.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { dot, expectClose, numericGradient } from '../helpers/compare.js';
import { useEngine } from '../helpers/engine.js';
import { uniform } from '../helpers/random.js';
import { evaluate } from '../reference/graph.js';
import { layerNormBackwardRef, layerNormRef } from '../reference/layer_norm.js';
import { runGraphOnGpu } from '../helpers/run_graph.js';

const engine = useEngine();
const f64 = (a: ArrayLike<number>) => Float64Array.from(a);
// Awkward shapes: one feature (var = 0, y = β), one row, widths that are not a multiple of a
// workgroup (33, 97) and a 3-D input whose rows span its two leading axes.
const SHAPES = [[4, 1], [1, 6], [3, 7], [2, 5, 33], [67, 97]];

describe('layer_norm float64 reference', () => {
  it('backward matches central differences of the forward, for dx, dγ and dβ', () => {
    for (const shape of SHAPES.slice(0, 4)) {
      const D = shape[shape.length - 1];
      const n = shape.reduce((a, b) => a * b, 1);
      const [x, dy, gamma, beta] = [uniform(n, 1, -2, 3), uniform(n, 2), uniform(D, 3, 0.5, 1.5), uniform(D, 4)].map(f64);
      const r = layerNormBackwardRef(dy, x, D, 1e-5, gamma);
      const loss = (xs: Float64Array, g: Float64Array, b: Float64Array) => dot(dy, layerNormRef(xs, D, 1e-5, g, b).y);
      expectClose(r.dx, numericGradient((v) => loss(v, gamma, beta), x), { atol: 1e-7, rtol: 1e-6 }, `dx [${shape}]`);
      expectClose(r.dgamma, numericGradient((v) => loss(x, v, beta), gamma), { atol: 1e-7, rtol: 1e-6 }, `dγ [${shape}]`);
      expectClose(r.dbeta, numericGradient((v) => loss(x, gamma, v), beta), { atol: 1e-7, rtol: 1e-6 }, `dβ [${shape}]`);
    }
  });

  it('the row statistics are those of torch.nn.LayerNorm (biased variance)', () => {
    const { y, mean, rstd } = layerNormRef([1, 2, 3, 6], 4, 0, [1, 1, 1, 1], [0, 0, 0, 0]);
    expect(mean[0]).toBe(3);
    expect(rstd[0]).toBeCloseTo(1 / Math.sqrt(3.5), 14);
    expectClose(y, [-2, -1, 0, 3].map((v) => v / Math.sqrt(3.5)), { atol: 1e-14, rtol: 0 });
  });
});

/** loss = mse(layer_norm(x)·…, t), with its gradients w.r.t. x, γ, β built by autodiff. */
function lnGraph(shape: number[], eps: number) {
  const D = shape[shape.length - 1];
  const g = createGraph();
  const [x, gamma, beta] = [g.input('x', shape), g.input('gamma', [D]), g.input('beta', [D])];
  const [y, mean, rstd] = g.apply('layer_norm', [x, gamma, beta], { eps });
  const t = g.input('t', shape);
  const [loss] = g.apply('mse', [y, t], {});
  const end = g.nodes.length;
  const grads = gradients(g, loss, [x, gamma, beta]);
  const n = x.size;
  const data = new Map<Value, Float32Array>([
    [x, uniform(n, n + 1, -3, 5)],
    [gamma, uniform(D, D + 2, 0.5, 1.5)],
    [beta, uniform(D, D + 3)],
    [t, uniform(n, n + 4)],
  ]);
  return { g, x, gamma, beta, y, mean, rstd, loss, end, grads, data };
}

function feedsOf(data: Map<Value, ArrayLike<number>>): Map<Value, Float64Array> {
  return new Map([...data].map(([v, d]) => [v, f64(d)]));
}

describe('layer_norm graph op', () => {
  it('autodiff through layer_norm matches finite differences of the float64 graph', () => {
    for (const shape of SHAPES.slice(0, 4)) {
      const { g, x, gamma, beta, loss, end, grads, data } = lnGraph(shape, 1e-5);
      const feeds = feedsOf(data);
      const env = evaluate(g, feeds);
      for (const v of [x, gamma, beta]) {
        const numeric = numericGradient((p) => evaluate(g, new Map(feeds).set(v, p), end).get(loss)![0], feeds.get(v)!);
        expectClose(env.get(grads.get(v)!)!, numeric, { atol: 1e-8, rtol: 1e-6 }, `d loss / d ${v.name} [${shape}]`);
      }
    }
  });

  // software: one invocation per row; GPU: a workgroup per row from 64 features (97 here).
  for (const software of [true, false]) {
    it(`forward and fused backward kernels match float64 (${software ? 'row per invocation' : 'row per workgroup'})`, async () => {
      for (const shape of SHAPES) {
        const { g, y, mean, rstd, loss, grads, data } = lnGraph(shape, 1e-5);
        const wanted = [y, mean, rstd, loss, ...grads.values()];
        const got = await runGraphOnGpu(engine(), g, data, wanted, software);
        const want = evaluate(g, feedsOf(data));
        for (const v of wanted) expectClose(got.get(v)!, want.get(v)!, { atol: 2e-5, rtol: 2e-4 }, `${v.name} [${shape}]`);
      }
    });
  }

  it('matches float64 on random shapes, both row variants (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 150 }), fc.boolean(), fc.constantFrom(0, 1e-5, 0.1), async (rows, cols, software, eps) => {
        // A one-value row has zero variance: eps 0 would make rstd infinite (NaN in both, as in PyTorch).
        const { g, y, mean, rstd, loss, grads, data } = lnGraph([rows, cols], cols === 1 && eps === 0 ? 1e-5 : eps);
        const wanted = [y, mean, rstd, loss, ...grads.values()];
        const got = await runGraphOnGpu(engine(), g, data, wanted, software);
        const want = evaluate(g, feedsOf(data));
        for (const v of wanted) expectClose(got.get(v)!, want.get(v)!, { atol: 5e-5, rtol: 5e-4 }, `${v.name} [${rows}, ${cols}] eps ${eps} ${software ? 'thread' : 'workgroup'}`);
      }),
      { numRuns: 8, seed: 11 },
    );
  });

  it('runs in a compiled step with the loss differentiated into the parameters, same bits every run', async () => {
    const shape = [5, 3, 19];
    const { data } = lnGraph(shape, 1e-3);
    let graph: Graph | undefined;
    let out: Value[] = [];
    const step = await compileStep(engine(), {
      inputs: { x: { shape }, gamma: { shape: [19] }, beta: { shape: [19] }, t: { shape } },
      stores: [],
      build: (g, { x, gamma, beta, t }) => {
        graph = g;
        const [y] = g.apply('layer_norm', [x, gamma, beta], { eps: 1e-3 });
        const [loss] = g.apply('mse', [y, t], {});
        const grads = gradients(g, loss, [x, gamma, beta]);
        out = [loss, ...grads.values()];
        return { outputs: { loss, dx: out[1], dgamma: out[2], dbeta: out[3] } };
      },
    });
    const feeds = [...data.values()];
    step.run({ x: feeds[0], gamma: feeds[1], beta: feeds[2], t: feeds[3] });
    const want = evaluate(graph!, new Map(graph!.inputs.map((v, i) => [v, f64(feeds[i])])));
    const first: Float32Array[] = [];
    for (const [i, name] of ['loss', 'dx', 'dgamma', 'dbeta'].entries()) {
      first.push(await step.read(name));
      expectClose(first[i], want.get(out[i])!, { atol: 2e-6, rtol: 2e-4 }, name);
    }
    step.run({ x: feeds[0], gamma: feeds[1], beta: feeds[2], t: feeds[3] });
    for (const [i, name] of ['loss', 'dx', 'dgamma', 'dbeta'].entries()) expect([...(await step.read(name))], name).toEqual([...first[i]]);
    step.dispose();
  });

  it('refuses bad shapes and eps when the graph is built, naming the layer and the fix', () => {
    const g = createGraph();
    const x = g.input('x', [4, 6]);
    const ok = g.input('g', [6]);
    const bad = g.input('b', [5]);
    const labels = g.input('l', [4, 6], 'u32');
    g.withLayer('LayerNorm(6)', () => {
      expect(() => g.apply('layer_norm', [x, ok, bad], { eps: 1e-5 })).toThrow(/LayerNorm\(6\): layer_norm: bias \[5\] must be \[6\], one value per element of the normalised last axis/);
      expect(() => g.apply('layer_norm', [x, ok, ok], { eps: -1 })).toThrow(/eps -1 must be a finite non-negative number/);
      expect(() => g.apply('layer_norm', [labels, ok, ok], { eps: 1e-5 })).toThrow(/input must be f32, got u32/);
      expect(() => g.apply('layer_norm', [x, ok], { eps: 1e-5 })).toThrow(ShapeError);
    });
  });
});
