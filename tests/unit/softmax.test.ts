import { describe, expect, it } from 'vitest';
import { softmax, softmaxBackward } from '../../src/eager/softmax.js';
import { tensor } from '../../src/eager/tensor.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { useEngine } from '../helpers/engine.js';
import { dot, expectClose, numericGradient } from '../helpers/compare.js';
import { uniform } from '../helpers/random.js';
import { softmax as refSoftmax } from '../reference/softmax.js';

const engine = useEngine();

describe('softmax', () => {
  const shapes = [[1, 1], [3, 10], [2, 257], [1, 1000], [7, 33], [2, 3, 127]];
  for (const variant of ['thread', 'workgroup'] as const) {
    it(`${variant} kernel matches float64 on rows of length 1, 10, 33, 127, 257, 1000`, async () => {
      for (const shape of shapes) {
        const n = shape.reduce((a, b) => a * b, 1);
        const cols = shape[shape.length - 1];
        // Large logits: without the max subtraction exp() overflows f32.
        const x = uniform(n, n, -40, 100);
        const xt = tensor(engine(), x, shape);
        const y = softmax(xt, variant);
        expectClose(await y.read(), refSoftmax(x, cols), { atol: 1e-7, rtol: 2e-5 }, `${variant} [${shape}]`);
        xt.dispose();
        y.dispose();
      }
    });

    it(`${variant} backward matches finite differences`, async () => {
      for (const shape of [[3, 10], [2, 77], [1, 1]]) {
        const n = shape[0] * shape[1];
        const x = uniform(n, 3 * n, -2, 2);
        const dy = uniform(n, 5 * n);
        const xt = tensor(engine(), x, shape);
        const dyt = tensor(engine(), dy, shape);
        const y = softmax(xt, variant);
        const dx = softmaxBackward(dyt, y, variant);
        const numeric = numericGradient((v) => dot(dy, refSoftmax(v, shape[1])), x);
        expectClose(await dx.read(), numeric, { atol: 2e-6, rtol: 1e-4 }, `${variant} dx [${shape}]`);
        for (const t of [xt, dyt, y, dx]) t.dispose();
      }
    });
  }

  it('the default kernel is correct for many short rows', async () => {
    const shape = [300, 5];
    const x = uniform(1500, 9, -5, 5);
    const xt = tensor(engine(), x, shape);
    const y = softmax(xt);
    expectClose(await y.read(), refSoftmax(x, 5), { atol: 1e-7, rtol: 2e-5 });
    xt.dispose();
    y.dispose();
  });

  it('rejects mismatched gradient shapes', () => {
    const a = tensor(engine(), uniform(6, 1), [2, 3]);
    const b = tensor(engine(), uniform(6, 2), [3, 2]);
    expect(() => softmaxBackward(a, b)).toThrow(ShapeError);
    expect(() => softmaxBackward(a, b)).toThrow(/softmax_backward: shapes \[2, 3\] and \[3, 2\] differ/);
    a.dispose();
    b.dispose();
  });

  it('leaves no buffers alive', () => {
    expect(engine().stats.liveBuffers).toBe(0);
  });
});
