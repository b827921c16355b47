import { describe, expect, it } from 'vitest';
import { batchNorm, batchNormEval, batchNormEvalGrad, batchNormGrad } from '../../src/eager/batch_norm.js';
import { tensor, type Tensor } from '../../src/eager/tensor.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { dot, expectClose, numericGradient } from '../helpers/compare.js';
import { useEngine } from '../helpers/engine.js';
import { uniform } from '../helpers/random.js';
import {
  batchNormBackwardRef,
  batchNormTrainRef,
  channelStats,
  normalize,
  runningUpdateRef,
  type BNShape,
} from '../reference/batch_norm.js';

const engine = useEngine();

const toBN = (shape: number[]): BNShape =>
  shape.length === 2 ? { n: shape[0], c: shape[1], hw: 1 } : { n: shape[0], c: shape[1], hw: shape[2] * shape[3] };
const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

function disposeAll(...ts: (Tensor | undefined)[]): void {
  for (const t of ts) t?.dispose();
}

// M = N·H·W of 1, 3, 7, 257 and 4092 per channel; [N, C] and [N, C, H, W]; non-square spatial.
const SHAPES = [[1, 4], [3, 5], [257, 3], [7, 1], [2, 3, 5, 7], [1, 2, 1, 1], [1, 3, 1, 3], [4, 2, 33, 31]];

describe('batch_norm', () => {
  it('train forward matches float64 (y, mean, invstd, running statistics)', async () => {
    for (const shape of SHAPES) {
      const s = toBN(shape);
      // An offset mean tests the two-pass variance.
      const x = uniform(size(shape), size(shape), 2, 5);
      const gamma = uniform(s.c, 1, 0.5, 2);
      const beta = uniform(s.c, 2);
      const rm = uniform(s.c, 3);
      const rv = uniform(s.c, 4, 0.5, 2);
      const eps = 1e-5;
      const [xt, gt, bt, rmt, rvt] = [tensor(engine(), x, shape), tensor(engine(), gamma, [s.c]), tensor(engine(), beta, [s.c]), tensor(engine(), rm, [s.c]), tensor(engine(), rv, [s.c])];
      const { y, mean, invstd } = batchNorm(xt, { gamma: gt, beta: bt, runningMean: rmt, runningVar: rvt, momentum: 0.3, eps });
      const what = `[${shape}]`;
      expectClose(await y.read(), batchNormTrainRef(x, s, eps, gamma, beta), { atol: 5e-5, rtol: 1e-4 }, `${what} y`);
      const stats = channelStats(x, s);
      expectClose(await mean.read(), stats.mean, { atol: 1e-5, rtol: 1e-5 }, `${what} mean`);
      expectClose(await invstd.read(), Float64Array.from(stats.variance, (v) => 1 / Math.sqrt(v + eps)), { atol: 0, rtol: 2e-4 }, `${what} invstd`);
      const run = runningUpdateRef(x, s, 0.3, rm, rv);
      expectClose(await rmt.read(), run.mean, { atol: 1e-5, rtol: 1e-5 }, `${what} running_mean`);
      expectClose(await rvt.read(), run.variance, { atol: 1e-5, rtol: 1e-4 }, `${what} running_var`);
      disposeAll(xt, gt, bt, rmt, rvt, y, mean, invstd);
    }
  });

  it('without affine or running statistics, and running stats persist over steps', async () => {
    const shape = [6, 3, 2, 5];
    const s = toBN(shape);
    const x1 = uniform(size(shape), 10, -1, 3);
    const x2 = uniform(size(shape), 11);
    const xt = tensor(engine(), x1, shape);
    const plain = batchNorm(xt);
    expectClose(await plain.y.read(), batchNormTrainRef(x1, s, 1e-5), { atol: 5e-5, rtol: 1e-4 }, 'no affine y');
    // PyTorch's fresh running statistics: mean 0, var 1; default momentum 0.1.
    const rmt = tensor(engine(), new Float32Array(s.c), [s.c]);
    const rvt = tensor(engine(), new Float32Array(s.c).fill(1), [s.c]);
    const x2t = tensor(engine(), x2, shape);
    const step1 = batchNorm(xt, { runningMean: rmt, runningVar: rvt });
    const step2 = batchNorm(x2t, { runningMean: rmt, runningVar: rvt });
    const r1 = runningUpdateRef(x1, s, 0.1, new Float64Array(s.c), new Float64Array(s.c).fill(1));
    const r2 = runningUpdateRef(x2, s, 0.1, r1.mean, r1.variance);
    expectClose(await rmt.read(), r2.mean, { atol: 1e-5, rtol: 1e-5 }, 'running_mean after 2 steps');
    expectClose(await rvt.read(), r2.variance, { atol: 1e-5, rtol: 1e-4 }, 'running_var after 2 steps');
    disposeAll(xt, x2t, rmt, rvt, ...Object.values(plain), ...Object.values(step1), ...Object.values(step2));
  });

  it('eval forward uses the running statistics', async () => {
    for (const shape of [[3, 5], [2, 3, 5, 7], [1, 1, 1, 1]]) {
      const s = toBN(shape);
      const x = uniform(size(shape), 20);
      const [rm, rv, gamma, beta] = [uniform(s.c, 21), uniform(s.c, 22, 0.1, 2), uniform(s.c, 23), uniform(s.c, 24)];
      const ts = [tensor(engine(), x, shape), ...[rm, rv, gamma, beta].map((v) => tensor(engine(), v, [s.c]))];
      const [xt, rmt, rvt, gt, bt] = ts;
      const y = batchNormEval(xt, { runningMean: rmt, runningVar: rvt, gamma: gt, beta: bt, eps: 1e-3 });
      expectClose(await y.read(), normalize(x, s, rm, rv, 1e-3, gamma, beta), { atol: 1e-5, rtol: 1e-4 }, `eval [${shape}]`);
      const y0 = batchNormEval(xt, { runningMean: rmt, runningVar: rvt });
      expectClose(await y0.read(), normalize(x, s, rm, rv, 1e-5), { atol: 1e-5, rtol: 1e-4 }, `eval no affine [${shape}]`);
      disposeAll(...ts, y, y0);
    }
  });

  it('train backward matches finite differences (dx, dgamma, dbeta)', async () => {
    for (const shape of [[3, 2], [1, 3], [2, 2, 3, 1], [1, 1, 1, 1]]) {
      const s = toBN(shape);
      const x = uniform(size(shape), 30 + size(shape), -2, 2);
      const dy = uniform(size(shape), 31);
      const gamma = uniform(s.c, 32, 0.5, 2);
      const beta = uniform(s.c, 33);
      const eps = 1e-3;
      const ts = [tensor(engine(), x, shape), tensor(engine(), dy, shape), tensor(engine(), gamma, [s.c]), tensor(engine(), beta, [s.c])];
      const [xt, dyt, gt, bt] = ts;
      const fwd = batchNorm(xt, { gamma: gt, beta: bt, eps });
      const g = batchNormGrad(dyt, xt, fwd, { gamma: gt });
      const what = `[${shape}]`;
      const tol = { atol: 1e-4, rtol: 1e-3 };
      expectClose(await g.dx.read(), numericGradient((v) => dot(dy, batchNormTrainRef(v, s, eps, gamma, beta)), x), tol, `${what} dx`);
      expectClose(await g.dgamma!.read(), numericGradient((v) => dot(dy, batchNormTrainRef(x, s, eps, v, beta)), gamma), tol, `${what} dgamma`);
      expectClose(await g.dbeta!.read(), numericGradient((v) => dot(dy, batchNormTrainRef(x, s, eps, gamma, v)), beta), tol, `${what} dbeta`);
      disposeAll(...ts, ...Object.values(fwd), ...Object.values(g));
    }
  });

  it('train backward matches the closed form on larger channels, with and without affine', async () => {
    for (const shape of [[257, 3], [4, 2, 33, 31]]) {
      const s = toBN(shape);
      const x = uniform(size(shape), 40, -1, 4);
      const dy = uniform(size(shape), 41);
      const gamma = uniform(s.c, 42, 0.5, 2);
      const ts = [tensor(engine(), x, shape), tensor(engine(), dy, shape), tensor(engine(), gamma, [s.c]), tensor(engine(), gamma, [s.c])];
      const [xt, dyt, gt, bt] = ts;
      const fwd = batchNorm(xt, { gamma: gt, beta: bt });
      const g = batchNormGrad(dyt, xt, fwd, { gamma: gt });
      const ref = batchNormBackwardRef(dy, x, s, 1e-5, gamma);
      const what = `[${shape}]`;
      // Sums over up to 4092 terms of size ~1 in f32.
      expectClose(await g.dx.read(), ref.dx, { atol: 1e-4, rtol: 1e-3 }, `${what} dx`);
      expectClose(await g.dgamma!.read(), ref.dgamma, { atol: 2e-3, rtol: 1e-4 }, `${what} dgamma`);
      expectClose(await g.dbeta!.read(), ref.dbeta, { atol: 2e-3, rtol: 1e-4 }, `${what} dbeta`);
      const fwd0 = batchNorm(xt);
      const g0 = batchNormGrad(dyt, xt, fwd0);
      expect(g0.dgamma).toBeUndefined();
      expectClose(await g0.dx.read(), batchNormBackwardRef(dy, x, s, 1e-5).dx, { atol: 1e-4, rtol: 1e-3 }, `${what} dx no affine`);
      disposeAll(...ts, ...Object.values(fwd), ...Object.values(g), ...Object.values(fwd0), g0.dx);
    }
  });

  it('eval backward matches finite differences', async () => {
    const shape = [2, 3, 2, 3];
    const s = toBN(shape);
    const x = uniform(size(shape), 50);
    const dy = uniform(size(shape), 51);
    const [rm, rv, gamma, beta] = [uniform(s.c, 52), uniform(s.c, 53, 0.5, 2), uniform(s.c, 54), uniform(s.c, 55)];
    const ts = [tensor(engine(), x, shape), tensor(engine(), dy, shape), ...[rm, rv, gamma, beta].map((v) => tensor(engine(), v, [s.c]))];
    const [xt, dyt, rmt, rvt, gt, bt] = ts;
    const g = batchNormEvalGrad(dyt, xt, { runningMean: rmt, runningVar: rvt, gamma: gt, beta: bt });
    const f = (xv: ArrayLike<number>, gv: ArrayLike<number>, bv: ArrayLike<number>) => dot(dy, normalize(xv, s, rm, rv, 1e-5, gv, bv));
    const tol = { atol: 1e-5, rtol: 1e-4 };
    expectClose(await g.dx.read(), numericGradient((v) => f(v, gamma, beta), x), tol, 'eval dx');
    expectClose(await g.dgamma!.read(), numericGradient((v) => f(x, v, beta), gamma), tol, 'eval dgamma');
    expectClose(await g.dbeta!.read(), numericGradient((v) => f(x, gamma, v), beta), tol, 'eval dbeta');
    disposeAll(...ts, ...Object.values(g));
  });

  it('rejects bad shapes before touching the GPU', () => {
    const x = tensor(engine(), new Float32Array(24), [2, 3, 4]);
    const x4 = tensor(engine(), new Float32Array(24), [2, 3, 2, 2]);
    const g = tensor(engine(), [1, 1], [2]);
    expect(() => batchNorm(x)).toThrow(ShapeError);
    expect(() => batchNorm(x4, { gamma: g, beta: g })).toThrow(/batch_norm: gamma \[2\] must be \[3\], one value per channel/);
    expect(() => batchNorm(x4, { runningMean: g })).toThrow(/give both runningMean and runningVar/);
    disposeAll(x, x4, g);
  });

  it('leaves no buffers alive', () => {
    expect(engine().stats.liveBuffers).toBe(0);
  });
});
