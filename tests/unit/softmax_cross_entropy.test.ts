import { describe, expect, it } from 'vitest';
import { softmaxCrossEntropy } from '../../src/eager/softmax_cross_entropy.js';
import { tensor } from '../../src/eager/tensor.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { useEngine } from '../helpers/engine.js';
import { expectClose, numericGradient } from '../helpers/compare.js';
import { integers, uniform } from '../helpers/random.js';
import { countCorrect, crossEntropy } from '../reference/softmax_cross_entropy.js';

const engine = useEngine();

describe('softmax cross-entropy', () => {
  // 1100 rows exceed one workgroup's batch, so the per-row kernel with separate sums runs too.
  const shapes: [number, number][] = [[1, 1], [1, 10], [3, 10], [33, 7], [7, 257], [2, 1000], [127, 3], [1100, 3]];
  for (const variant of ['thread', 'workgroup'] as const) {
    it(`${variant}: loss, dLogits and correct count match float64 and finite differences`, async () => {
      for (const [batch, classes] of shapes) {
        const x = uniform(batch * classes, batch + classes, -4, 4);
        const labels = integers(batch, classes, batch * classes);
        const xt = tensor(engine(), x, [batch, classes]);
        const lt = tensor(engine(), labels, [batch], 'u32');
        const { loss, dLogits, correct } = softmaxCrossEntropy(xt, lt, { countCorrect: true, variant });
        const what = `${variant} [${batch}, ${classes}]`;
        expectClose(await loss.read(), [crossEntropy(x, labels, classes)], { atol: 1e-6, rtol: 1e-5 }, `${what} loss`);
        // Row b's logits affect only row b's term of the mean, so differentiate row by row.
        const numeric = new Float64Array(batch * classes);
        for (let b = 0; b < batch; b++) {
          const row = x.subarray(b * classes, (b + 1) * classes);
          numeric.set(numericGradient((v) => crossEntropy(v, [labels[b]], classes) / batch, row), b * classes);
        }
        expectClose(await dLogits.read(), numeric, { atol: 1e-6, rtol: 1e-4 }, `${what} dLogits`);
        expect(Array.from(await correct!.read()), `${what} correct`).toEqual([countCorrect(x, labels, classes)]);
        for (const t of [xt, lt, loss, dLogits, correct!]) t.dispose();
      }
    });

    it(`${variant}: ties go to the first maximum; out-of-range labels are ignored`, async () => {
      const classes = 5;
      // Rows: max tied at 1 and 3 with label 1 (correct) / label 3 (wrong); a plain hit; an ignored row.
      const x = [0, 2, 1, 2, -1, 0, 2, 1, 2, -1, 3, 0, 0, 0, 0, 1, 2, 3, 4, 5];
      const labels = [1, 3, 0, 7];
      const xt = tensor(engine(), x, [4, classes]);
      const lt = tensor(engine(), labels, [4], 'u32');
      const { loss, dLogits, correct } = softmaxCrossEntropy(xt, lt, { countCorrect: true, variant });
      expect(Array.from(await correct!.read())).toEqual([2]);
      expectClose(await loss.read(), [crossEntropy(x, labels, classes)], { atol: 1e-6, rtol: 1e-5 });
      const dl = await dLogits.read();
      expect(Array.from(dl.slice(15))).toEqual([0, 0, 0, 0, 0]);
      for (const t of [xt, lt, loss, dLogits, correct!]) t.dispose();
    });
  }

  it('omits the correct count unless asked', async () => {
    const xt = tensor(engine(), uniform(20, 3), [2, 10]);
    const lt = tensor(engine(), [3, 9], [2], 'u32');
    const result = softmaxCrossEntropy(xt, lt);
    expect(result.correct).toBeUndefined();
    expect((await result.loss.read()).length).toBe(1);
    for (const t of [xt, lt, result.loss, result.dLogits]) t.dispose();
  });

  it('rejects labels that do not match the batch, before touching the GPU', () => {
    const xt = tensor(engine(), uniform(20, 3), [2, 10]);
    const lt = tensor(engine(), [1, 2, 3], [3], 'u32');
    const lf = tensor(engine(), [1, 2], [2]);
    expect(() => softmaxCrossEntropy(xt, lt)).toThrow(ShapeError);
    expect(() => softmaxCrossEntropy(xt, lt)).toThrow(/logits \[2, 10\] and labels \[3\]: labels must be \[2\]/);
    expect(() => softmaxCrossEntropy(xt, lf)).toThrow(/labels must be u32/);
    for (const t of [xt, lt, lf]) t.dispose();
  });

  it('leaves no buffers alive', () => {
    expect(engine().stats.liveBuffers).toBe(0);
  });
});
