import { describe, expect, it } from 'vitest';
import { mse, mseBackward } from '../../src/eager/mse.js';
import { tensor } from '../../src/eager/tensor.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { useEngine } from '../helpers/engine.js';
import { expectClose, numericGradient } from '../helpers/compare.js';
import { uniform } from '../helpers/random.js';
import { mse as ref } from '../reference/mse.js';

const engine = useEngine();

describe('mse', () => {
  // 5000 and 70001 take two levels of the global sum; 1, 3 and 33 a single ragged chunk.
  const shapes = [[1], [3], [3, 11], [7, 1, 33], [5000], [257, 273]];
  it('forward (mean) matches float64', async () => {
    for (const shape of shapes) {
      const n = shape.reduce((a, b) => a * b, 1);
      const x = uniform(n, n, -3, 3);
      const t = uniform(n, n + 1, -2, 2);
      const xt = tensor(engine(), x, shape);
      const tt = tensor(engine(), t, shape);
      const loss = mse(xt, tt);
      expect(loss.shape).toEqual([1]);
      expectClose(await loss.read(), [ref(x, t)], { atol: 1e-6, rtol: 1e-5 }, `[${shape}]`);
      for (const v of [xt, tt, loss]) v.dispose();
    }
  });

  it('backward matches finite differences, with and without an upstream gradient', async () => {
    for (const shape of [[1], [7, 3], [33]]) {
      const n = shape.reduce((a, b) => a * b, 1);
      const x = uniform(n, 2 * n, -4, 4);
      const t = uniform(n, 3 * n, -2, 2);
      const xt = tensor(engine(), x, shape);
      const tt = tensor(engine(), t, shape);
      const dy = tensor(engine(), [-1.5], [1]);
      const dx = mseBackward(xt, tt);
      const dxUp = mseBackward(xt, tt, dy);
      const numeric = numericGradient((v) => ref(v, t), x);
      expectClose(await dx.read(), numeric, { atol: 1e-6, rtol: 1e-4 }, `dx [${shape}]`);
      expectClose(await dxUp.read(), numeric.map((g) => -1.5 * g), { atol: 1e-6, rtol: 1e-4 }, `dx * dy [${shape}]`);
      for (const v of [xt, tt, dy, dx, dxUp]) v.dispose();
    }
  });

  it('rejects targets of another shape before touching the GPU', () => {
    const xt = tensor(engine(), uniform(6, 1), [2, 3]);
    const tt = tensor(engine(), uniform(6, 2), [3, 2]);
    expect(() => mse(xt, tt)).toThrow(ShapeError);
    expect(() => mseBackward(xt, tt)).toThrow(/mse_backward: shapes \[2, 3\] and \[3, 2\] differ/);
    xt.dispose();
    tt.dispose();
  });

  it('leaves no buffers alive', () => {
    expect(engine().stats.liveBuffers).toBe(0);
  });
});
