import { describe, expect, it } from 'vitest';
import { gradients } from '../../src/graph/autodiff.js';
import { compileStep } from '../../src/graph/compile.js';
import { createGraph } from '../../src/graph/graph.js';
import type { Graph, Value } from '../../src/graph/ir.js';
import { mseComposition } from '../../src/graph/ops/pointwise_loss.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { expectClose, numericGradient } from '../helpers/compare.js';
import { useEngine } from '../helpers/engine.js';
import { uniform } from '../helpers/random.js';
import { evaluate } from '../reference/graph.js';
import { mse as mseRef } from '../reference/mse.js';

// The fused mse op (one deterministic reduction, one backward kernel) is an optimisation of
// mseComposition (sub, mul, sum, scale); the composition and its autodiff are the oracle here.
const engine = useEngine();
const f64 = (a: ArrayLike<number>) => Float64Array.from(a);
// Size-1 dims, sizes off every tile, and one past a 256-thread workgroup.
const SHAPES = [[1], [3, 1], [7, 1, 5], [257], [2, 3, 43]];

type LossBuilder = (g: Graph, p: Value, t: Value) => Value;
const fused: LossBuilder = (g, p, t) => g.apply('mse', [p, t], {})[0];

function lossAndGrads(build: LossBuilder, shape: number[]) {
  const g = createGraph();
  const p = g.input('p', shape);
  const t = g.input('t', shape);
  const loss = build(g, p, t);
  const end = g.nodes.length;
  const grads = gradients(g, loss, [p, t]);
  return { g, p, t, loss, end, dp: grads.get(p)!, dt: grads.get(t)! };
}

describe('mse: the fused op against its composition (float64 interpreter)', () => {
  for (const shape of SHAPES) {
    it(`[${shape}]: equal loss and gradients, and the composition matches finite differences`, () => {
      const n = shape.reduce((a, b) => a * b, 1);
      const pv = f64(uniform(n, n, -3, 3));
      const tv = f64(uniform(n, n + 7, -2, 2));
      const [a, b] = [lossAndGrads(fused, shape), lossAndGrads(mseComposition, shape)];
      const [ea, eb] = [a, b].map((c) => evaluate(c.g, new Map([[c.p, pv], [c.t, tv]])));
      expect(ea.get(a.loss)![0]).toBeCloseTo(mseRef(pv, tv), 12);
      expect(eb.get(b.loss)![0]).toBeCloseTo(mseRef(pv, tv), 12);
      expectClose(ea.get(a.dp)!, eb.get(b.dp)!, { atol: 1e-12, rtol: 1e-10 }, 'dp');
      expectClose(ea.get(a.dt)!, eb.get(b.dt)!, { atol: 1e-12, rtol: 1e-10 }, 'dt');
      const numeric = numericGradient((v) => evaluate(b.g, new Map([[b.p, v], [b.t, tv]]), b.end).get(b.loss)![0], pv);
      expectClose(eb.get(b.dp)!, numeric, { atol: 1e-8, rtol: 1e-6 }, 'dp vs finite differences');
    });
  }

  it('the composition refuses mismatched shapes with the op names, as the fused op does', () => {
    const g = createGraph();
    const [p, t] = [g.input('p', [2, 3]), g.input('t', [3, 2])];
    expect(() => mseComposition(g, p, t)).toThrow(ShapeError);
    expect(() => g.apply('mse', [p, t], {})).toThrow(/mse: shapes \[2, 3\] and \[3, 2\] differ; the target must have the shape of the prediction/);
  });
});

describe('mse on the GPU: the fused kernels against the composition, in compiled steps', () => {
  for (const shape of [[3, 1], [2, 3, 43], [257]]) {
    it(`[${shape}]: loss and both gradients agree`, async () => {
      const n = shape.reduce((a, b) => a * b, 1);
      const pv = uniform(n, 3 * n, -3, 3);
      const tv = uniform(n, 5 * n, -2, 2);
      const results = [];
      for (const build of [fused, mseComposition]) {
        const step = await compileStep(engine(), {
          inputs: { p: { shape }, t: { shape } },
          stores: [],
          build: (g, { p, t }) => {
            const loss = build(g, p, t);
            const grads = gradients(g, loss, [p, t]);
            return { outputs: { loss, dp: grads.get(p)!, dt: grads.get(t)! } };
          },
        });
        step.run({ p: pv, t: tv });
        results.push({ loss: await step.read('loss'), dp: await step.read('dp'), dt: await step.read('dt'), dispatches: step.stats.dispatches });
        step.dispose();
      }
      const [f, c] = results;
      expectClose(f.loss, [mseRef(pv, tv)], { atol: 1e-6, rtol: 1e-5 }, 'fused loss vs float64');
      expectClose(f.loss, c.loss, { atol: 1e-6, rtol: 1e-5 }, 'fused vs composed loss');
      expectClose(f.dp, c.dp, { atol: 1e-6, rtol: 1e-5 }, 'dp');
      expectClose(f.dt, c.dt, { atol: 1e-6, rtol: 1e-5 }, 'dt');
      // The point of the fused op: fewer launches than the composition.
      expect(f.dispatches).toBeLessThan(c.dispatches);
    });
  }
});
