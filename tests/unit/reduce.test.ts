import { describe, expect, it } from 'vitest';
import { sumAllProgram } from '../../src/kernels/reduce.js';
import { mean, meanBackward, sum, sumAll, sumAllBackward, sumBackward } from '../../src/eager/reduce.js';
import { tensor } from '../../src/eager/tensor.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { useEngine } from '../helpers/engine.js';
import { dot, expectClose, numericGradient } from '../helpers/compare.js';
import { uniform } from '../helpers/random.js';
import { meanAxis, sumAll as refSumAll, sumAxis } from '../reference/reduce.js';

const engine = useEngine();

describe('reduce', () => {
  // Rows and columns, few outputs over many rows (chunked, with one or two further passes over the
  // chunk partials), leading and trailing kept dimensions, and single elements.
  const cases: { shape: number[]; axis: number }[] = [
    { shape: [1], axis: 0 },
    { shape: [7], axis: 0 },
    { shape: [3, 257], axis: 1 },
    { shape: [33, 10], axis: -1 },
    { shape: [127, 33], axis: 0 },
    { shape: [1000, 3], axis: 0 },
    { shape: [5000, 1], axis: 0 },
    { shape: [5000, 2], axis: 0 },
    { shape: [2, 7, 3, 5], axis: 1 },
    { shape: [3, 1, 127], axis: 1 },
    { shape: [2, 3, 7, 5], axis: 2 },
  ];
  for (const { shape, axis } of cases) {
    it(`sum and mean of [${shape.join(', ')}] along axis ${axis} match float64`, async () => {
      const n = shape.reduce((a, b) => a * b, 1);
      const x = uniform(n, n + shape.length);
      const a = axis < 0 ? axis + shape.length : axis;
      const xt = tensor(engine(), x, shape);
      const s = sum(xt, axis);
      const m = mean(xt, axis);
      const expectedShape = shape.filter((_, i) => i !== a);
      expect(s.shape).toEqual(expectedShape.length ? expectedShape : [1]);
      // f32 summation of len terms of magnitude <= 1: error grows like len * 2^-24.
      const atol = shape[a] * 2e-7 + 1e-6;
      expectClose(await s.read(), sumAxis(x, shape, a), { atol, rtol: 1e-5 }, 'sum');
      expectClose(await m.read(), meanAxis(x, shape, a), { atol: atol / shape[a], rtol: 1e-5 }, 'mean');
      for (const t of [xt, s, m]) t.dispose();
    });
  }

  it('sum / mean backward match finite differences', async () => {
    const shape = [3, 7, 5];
    const x = uniform(105, 3);
    for (const op of ['sum', 'mean'] as const) {
      for (const axis of [0, 1, 2]) {
        const dy = uniform(105 / shape[axis], 4 + axis);
        const dyShape = shape.filter((_, i) => i !== axis);
        const dyt = tensor(engine(), dy, dyShape);
        const dx = op === 'sum' ? sumBackward(dyt, shape, axis) : meanBackward(dyt, shape, axis);
        const ref = op === 'sum' ? sumAxis : meanAxis;
        const numeric = numericGradient((v) => dot(dy, ref(v, shape, axis)), x);
        expectClose(await dx.read(), numeric, { atol: 1e-6, rtol: 1e-5 }, `${op} axis ${axis} dx`);
        dyt.dispose();
        dx.dispose();
      }
    }
  });

  it('sumAll over 100k+ elements is close to float64 and identical bit for bit on every run', async () => {
    const n = 131_071;
    // A tree of launches with scratch between them, not one workgroup walking the whole array.
    const program = sumAllProgram(n);
    expect(program.launches.length).toBeGreaterThanOrEqual(2);
    expect(program.scratch.length).toBeGreaterThanOrEqual(1);
    const x = uniform(n, 11, -1, 3);
    const xt = tensor(engine(), x, [n]);
    const runs: number[] = [];
    for (let k = 0; k < 5; k++) {
      const s = sumAll(xt);
      const bits = new Uint32Array((await s.read()).buffer);
      runs.push(bits[0]);
      s.dispose();
    }
    expect(new Set(runs).size).toBe(1);
    const value = new Float32Array(new Uint32Array([runs[0]]).buffer)[0];
    const expected = refSumAll(x);
    // A tree of depth ~log2(n) over values in [-1, 3): relative error a few ulps of the total.
    expect(Math.abs(value - expected)).toBeLessThan(1e-5 * Math.abs(expected));
    xt.dispose();
  });

  it('sumAll on small and ragged sizes, and its backward', async () => {
    for (const n of [1, 3, 257, 4097, 9000]) {
      const x = uniform(n, n);
      const xt = tensor(engine(), x, [n]);
      const s = sumAll(xt);
      expectClose(await s.read(), [refSumAll(x)], { atol: n * 1e-7 + 1e-6, rtol: 1e-6 }, `sumAll n=${n}`);
      xt.dispose();
      s.dispose();
    }
    const dy = tensor(engine(), [0.75], [1]);
    const dx = sumAllBackward(dy, [3, 11]);
    const numeric = numericGradient((v) => 0.75 * refSumAll(v), uniform(33, 5));
    expectClose(await dx.read(), numeric, { atol: 1e-6 }, 'sumAll dx');
    dy.dispose();
    dx.dispose();
  });

  it('rejects bad axes and gradient shapes before touching the GPU', () => {
    const x = tensor(engine(), uniform(6, 1), [2, 3]);
    expect(() => sum(x, 2)).toThrow(ShapeError);
    expect(() => mean(x, -3)).toThrow(/mean: axis -3 is out of range for shape \[2, 3\]/);
    expect(() => sumBackward(x, [2, 3, 4], 0)).toThrow(/sum backward: dy \[2, 3\] does not match input \[2, 3, 4\].*expected dy \[3, 4\]/);
    x.dispose();
  });

  it('leaves no buffers alive', () => {
    expect(engine().stats.liveBuffers).toBe(0);
  });
});
