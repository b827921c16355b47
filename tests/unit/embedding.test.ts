import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gradients } from '../../src/graph/autodiff.js';
import { compileStep } from '../../src/graph/compile.js';
import { createGraph } from '../../src/graph/graph.js';
import type { Value } from '../../src/graph/ir.js';
import { dot, expectClose, numericGradient } from '../helpers/compare.js';
import { useEngine } from '../helpers/engine.js';
import { integers, uniform } from '../helpers/random.js';
import { runGraphOnGpu } from '../helpers/run_graph.js';
import { embeddingBackwardRef, embeddingRef } from '../reference/embedding.js';
import { evaluate } from '../reference/graph.js';

const engine = useEngine();
const f64 = (a: ArrayLike<number>) => Float64Array.from(a);

/** loss = mse(embedding(indices, W), t) and d loss / d W. */
function embeddingGraph(indexShape: number[], vocab: number, dim: number, indices: Uint32Array) {
  const g = createGraph();
  const idx = g.input('indices', indexShape, 'u32');
  const w = g.input('weight', [vocab, dim]);
  const [y, invalid] = g.apply('embedding', [idx, w], {});
  const t = g.input('t', y.shape);
  const [loss] = g.apply('mse', [y, t], {});
  const end = g.nodes.length;
  const dw = gradients(g, loss, [w]).get(w)!;
  const data = new Map<Value, Float32Array | Uint32Array>([
    [idx, indices],
    [w, uniform(vocab * dim, vocab + dim, -2, 2)],
    [t, uniform(y.size, y.size + 1)],
  ]);
  return { g, idx, w, y, invalid, loss, end, dw, data };
}

const feedsOf = (data: Map<Value, ArrayLike<number>>): Map<Value, Float64Array> => new Map([...data].map(([v, d]) => [v, f64(d)]));

describe('embedding float64 reference and graph op', () => {
  it('the backward reference is the gradient of the lookup (repeated indices add up)', () => {
    const indices = Uint32Array.of(2, 0, 2, 2, 4);
    const weight = f64(uniform(15, 1));
    const dy = f64(uniform(15, 2));
    const numeric = numericGradient((w) => dot(dy, embeddingRef(indices, w, 3).y), weight);
    expectClose(embeddingBackwardRef(dy, indices, 5, 3), numeric, { atol: 1e-8, rtol: 1e-7 });
    expect(embeddingRef(indices, weight, 3).y.subarray(3, 6)).toEqual(weight.subarray(0, 3));
  });

  it('autodiff into the table matches finite differences of the float64 graph, out-of-range indices included', () => {
    const indices = Uint32Array.of(1, 3, 1, 0, 7, 1, 3, 0xffffffff);
    const { g, w, loss, end, dw, invalid, data } = embeddingGraph([2, 4], 4, 3, indices);
    const feeds = feedsOf(data);
    const env = evaluate(g, feeds);
    expect(env.get(invalid)![0]).toBe(2);
    const numeric = numericGradient((v) => evaluate(g, new Map(feeds).set(w, v), end).get(loss)![0], feeds.get(w)!);
    expectClose(env.get(dw)!, numeric, { atol: 1e-9, rtol: 1e-7 }, 'd loss / d weight');
  });

  // [1]·[1, 1]: one index, one row, one feature; then a character vocabulary (97 rows, T·B = 780
  // indices, not a multiple of any workgroup) and a 3-D index tensor with unused rows.
  const cases: [number[], number, number][] = [[[1], 1, 1], [[12, 65], 97, 40], [[2, 3, 5], 96, 33]];
  for (const [indexShape, vocab, dim] of cases) {
    it(`GPU lookup, invalid count and deterministic table gradient match float64: indices [${indexShape}], table [${vocab}, ${dim}]`, async () => {
      const n = indexShape.reduce((a, b) => a * b, 1);
      const indices = integers(n, vocab, n + vocab);
      if (n > 2) indices.set([vocab, vocab + 5], 1);
      const { g, y, invalid, loss, dw, data } = embeddingGraph(indexShape, vocab, dim, indices);
      const wanted = [y, invalid, loss, dw];
      const got = await runGraphOnGpu(engine(), g, data, wanted, true);
      const want = evaluate(g, feedsOf(data));
      expect(got.get(invalid)![0]).toBe(n > 2 ? 2 : 0);
      for (const v of wanted) expectClose(got.get(v)!, want.get(v)!, { atol: 1e-6, rtol: 1e-5 }, `${v.name}`);
    });
  }

  it('matches float64 on random tables and indices, out-of-range ones included (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 120 }), fc.integer({ min: 1, max: 70 }), fc.integer({ min: 1, max: 300 }), fc.integer(), async (vocab, dim, n, seed) => {
        // Mostly valid rows, with repeats; about one index in twenty past the table.
        const indices = integers(n, Math.ceil(vocab * 1.05), seed >>> 0);
        const { g, y, invalid, dw, data } = embeddingGraph([n], vocab, dim, indices);
        const got = await runGraphOnGpu(engine(), g, data, [y, invalid, dw], true);
        const want = evaluate(g, feedsOf(data));
        for (const v of [y, invalid, dw]) expectClose(got.get(v)!, want.get(v)!, { atol: 1e-6, rtol: 1e-5 }, `${v.name} V ${vocab} D ${dim} n ${n}`);
      }),
      { numRuns: 8, seed: 12 },
    );
  });

  it('trains in a compiled step: the same bits every run', async () => {
    const indices = integers(130, 11, 5);
    const step = await compileStep(engine(), {
      inputs: { indices: { shape: [10, 13], dtype: 'u32' }, weight: { shape: [11, 6] } },
      stores: [],
      build: (g, { indices, weight }) => {
        const [y, invalid] = g.apply('embedding', [indices, weight], {});
        const [loss] = g.apply('mse', [y, g.apply('scale', [y], { scale: 0, shift: 0.5 })[0]], {});
        return { outputs: { loss, invalid, dw: gradients(g, loss, [weight]).get(weight)! } };
      },
    });
    const weight = uniform(66, 6);
    step.run({ indices, weight });
    const first = await step.read('dw');
    const expected = embeddingBackwardRef(embeddingRef(indices, weight, 6).y.map((v) => (2 * (v - 0.5)) / 780), indices, 11, 6);
    expectClose(first, expected, { atol: 1e-7, rtol: 1e-5 }, 'dweight');
    expect((await step.read('invalid'))[0]).toBe(0);
    step.run({ indices, weight });
    expect([...(await step.read('dw'))]).toEqual([...first]);
    step.dispose();
  });

  it('refuses float indices and a table that is not 2-D when the graph is built', () => {
    const g = createGraph();
    const w = g.input('w', [5, 3]);
    g.withLayer('Embedding(5, 3)', () => {
      expect(() => g.apply('embedding', [g.input('x', [4]), w], {})).toThrow(/Embedding\(5, 3\): embedding: indices \[4\] must be u32 row numbers, got f32; declare the input with dtype 'u32'/);
      expect(() => g.apply('embedding', [g.input('i', [4], 'u32'), g.input('v', [15])], {})).toThrow(/weight \[15\] must be \[num_embeddings, embedding_dim\]/);
    });
  });
});
