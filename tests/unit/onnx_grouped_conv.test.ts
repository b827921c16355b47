import { describe, expect, it } from 'vitest';
import { exportOnnx } from '../../src/export/onnx.js';
import { Conv2d } from '../../src/nn/conv.js';
import { ReLU, Sequential } from '../../src/nn/layers.js';
import { useEngine } from '../helpers/engine.js';
import { engineForward, maxAbsDiff, onnxForward, randomWeights } from '../helpers/onnx.js';
import { uniform } from '../helpers/random.js';

const engine = useEngine();

describe('ONNX export of grouped convolutions', () => {
  it("a depthwise then a two-group Conv2d ('same' padding) give ONNX Runtime the engine's output", async () => {
    const model = new Sequential(new Conv2d(4, 8, 3, { groups: 4, padding: 'same' }), ReLU(), new Conv2d(8, 6, [1, 3], { groups: 2 }));
    const inputShape = [4, 5, 6];
    const { store, bytes } = randomWeights(engine(), model, 3);
    try {
      const onnx = exportOnnx(model, { inputShape, weights: bytes });
      const x = uniform(2 * 120, 4, -1, 1);
      const expected = await engineForward(engine(), model, store, inputShape, 2, x);
      const got = await onnxForward(onnx, inputShape, 2, x);
      expect(got.dims).toEqual([2, 6, 5, 4]);
      expect(maxAbsDiff(got.data, expected)).toBeLessThanOrEqual(1e-4);
      expect(Math.max(...expected.map(Math.abs))).toBeGreaterThan(1e-3);
    } finally {
      store.dispose();
    }
  });
});
