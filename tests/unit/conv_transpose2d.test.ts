import { describe, expect, it } from 'vitest';
import { convTranspose2d, convTranspose2dBackwardData, convTranspose2dBackwardFilter } from '../../src/eager/conv_transpose2d.js';
import { tensor } from '../../src/eager/tensor.js';
import { ShapeError } from '../../src/gpu/errors.js';
import type { ConvFilterConfig, ConvGemmConfig } from '../../src/kernels/conv2d.js';
import { dot, expectClose, numericGradient } from '../helpers/compare.js';
import { useEngine } from '../helpers/engine.js';
import {
  type ConvTransposeCase as Case,
  convTransposeAttrs as attrsOf,
  convTransposeLabel as label,
  convTransposeOutShape as outShape,
  convTransposeRef as ref,
  readAll,
  size,
} from '../helpers/conv_cases.js';
import { uniform } from '../helpers/random.js';
import { activateAll } from '../reference/activation.js';

const engine = useEngine();

// DCGAN's generator layers (4×4 kernels, stride 2, padding 1) and awkward ones: output_padding,
// dilation, asymmetric attributes, 1×1 inputs, Cout 1 and 33.
const dcgan: Case = { x: [2, 3, 4, 4], w: [3, 5, 4, 4], stride: [2, 2], padding: [1, 1] };
const odd: Case = { x: [1, 2, 3, 5], w: [2, 7, 3, 2], stride: [3, 2], padding: [1, 0], outputPadding: [2, 1], dilation: [1, 2] };
const single: Case = { x: [2, 1, 1, 1], w: [1, 33, 3, 3] };
const sizeOne: Case = { x: [1, 3, 5, 5], w: [3, 1, 2, 2], dilation: [2, 2], padding: [1, 1] };

describe('conv_transpose2d forward', () => {
  const cases: [Case, ConvGemmConfig, 'none' | 'tanh' | 'relu'][] = [
    [dcgan, 'direct_4x4', 'tanh'],
    [odd, 'direct_8x4', 'none'],
    [single, 'tiled_32x32', 'relu'],
    [sizeOne, 'direct_4x4', 'none'],
    [odd, 'tiled_32x32', 'none'],
  ];
  for (const [c, config, act] of cases) {
    it(`${label(c)} ${act} (${config}) matches float64 reference`, async () => {
      const x = uniform(size(c.x), 1);
      const w = uniform(size(c.w), 2);
      const b = uniform(c.w[1], 3);
      const xt = tensor(engine(), x, c.x);
      const wt = tensor(engine(), w, c.w);
      const bt = tensor(engine(), b, [c.w[1]]);
      const y = convTranspose2d(xt, wt, { ...attrsOf(c), bias: bt, activation: act, config });
      const expected = ref(c, x, w, b);
      expect(y.shape).toEqual(expected.shape);
      const [got] = await readAll(y, xt, wt, bt);
      expectClose(got, activateAll(act, expected.data), { atol: 2e-5, rtol: 1e-4 }, label(c));
    });
  }
});

describe('conv_transpose2d backward', () => {
  // L = sum(dy ⊙ convT(x, w) + b) is linear in each argument: central differences are exact up to rounding.
  const EPS = 1e-3;
  const dataCases: [Case, ConvGemmConfig][] = [
    [dcgan, 'direct_4x4'],
    [odd, 'tiled_32x32'],
  ];
  for (const [c, config] of dataCases) {
    it(`backward-data ${label(c)} (${config}) matches finite differences`, async () => {
      const x = uniform(size(c.x), 4);
      const w = uniform(size(c.w), 5);
      const dyShape = outShape(c);
      const dy = uniform(size(dyShape), 6);
      const dyt = tensor(engine(), dy, dyShape);
      const wt = tensor(engine(), w, c.w);
      const dx = convTranspose2dBackwardData(dyt, wt, c.x, { ...attrsOf(c), config });
      expect(dx.shape).toEqual(c.x);
      const [got] = await readAll(dx, dyt, wt);
      const numeric = numericGradient((v) => dot(dy, ref(c, v, w).data), x, EPS);
      expectClose(got, numeric, { atol: 2e-5, rtol: 1e-4 }, `dx ${label(c)}`);
    });
  }

  const filterCases: [Case, ConvFilterConfig, boolean][] = [
    [dcgan, 'split_4x4_4k', true],
    [odd, 'split_8x4_4k', true],
    [sizeOne, 'split_4x4_4k', false],
  ];
  for (const [c, config, bias] of filterCases) {
    it(`backward-filter ${label(c)} bias ${bias} (${config}) matches finite differences`, async () => {
      const x = uniform(size(c.x), 7);
      const w = uniform(size(c.w), 8);
      const dyShape = outShape(c);
      const dy = uniform(size(dyShape), 9);
      const xt = tensor(engine(), x, c.x);
      const dyt = tensor(engine(), dy, dyShape);
      const { dw, dbias } = convTranspose2dBackwardFilter(xt, dyt, c.w, { ...attrsOf(c), bias, config });
      expect(dw.shape).toEqual(c.w);
      expect(dbias?.shape).toEqual(bias ? [c.w[1]] : undefined);
      const [gotW, gotB] = await readAll(dw, ...(dbias ? [dbias] : []), xt, dyt);
      expectClose(gotW, numericGradient((v) => dot(dy, ref(c, x, v).data), w, EPS), { atol: 5e-5, rtol: 1e-4 }, `dw ${label(c)}`);
      if (bias) {
        const numeric = numericGradient((v) => dot(dy, ref(c, x, w, v).data), new Float64Array(c.w[1]), EPS);
        expectClose(gotB, numeric, { atol: 5e-5, rtol: 1e-4 }, 'dbias');
      }
    });
  }
});

describe('conv_transpose2d shape errors', () => {
  it('rejects bad shapes and attributes before any GPU work', () => {
    const e = engine();
    const x = tensor(e, new Float32Array(2 * 3 * 4 * 4), [2, 3, 4, 4]);
    const w = tensor(e, new Float32Array(2 * 5 * 4 * 4), [2, 5, 4, 4]);
    const ok = tensor(e, new Float32Array(3 * 5 * 3 * 3), [3, 5, 3, 3]);
    const before = e.stats.liveBuffers;
    expect(() => convTranspose2d(x, w)).toThrow(ShapeError);
    expect(() => convTranspose2d(x, w)).toThrow(/conv_transpose2d: input \[2, 3, 4, 4\] has 3 channels but weight \[2, 5, 4, 4\] expects Cin = 2/);
    expect(() => convTranspose2d(x, ok, { padding: 4 })).toThrow(/gives output size -2 along H; reduce the padding/);
    expect(() => convTranspose2d(x, ok, { stride: 2, outputPadding: 2 })).toThrow(/outputPadding \[2, 2\] must be smaller than stride \[2, 2\]/);
    expect(() => convTranspose2dBackwardData(x, ok, [2, 3, 4, 4])).toThrow(/conv_transpose2d_backward_data: gradient \[2, 3, 4, 4\] does not match the transposed conv output \[2, 5, 6, 6\]/);
    expect(e.stats.liveBuffers).toBe(before);
    for (const t of [x, w, ok]) t.dispose();
  });

  it('leaves no buffers alive', () => {
    expect(engine().stats.liveBuffers).toBe(0);
  });
});
