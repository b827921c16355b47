import { describe, expect, it } from 'vitest';
import { convTranspose2d, convTranspose2dBackwardData, convTranspose2dBackwardFilter } from '../../src/eager/conv_transpose2d.js';
import { tensor } from '../../src/eager/tensor.js';
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

// The transposed convolution runs on the same implicit-GEMM family with the gathers swapped (its
// forward is the transposed gather, its input gradient the forward one, its weight gradient reads
// dY as src), so the tuner offers it the double-buffered tiles too: a DCGAN layer (4×4, stride 2)
// on the 128×128 tile, and output padding, dilation, asymmetric attributes on the 64×64 one.
const dcgan: Case = { x: [2, 3, 4, 4], w: [3, 5, 4, 4], stride: [2, 2], padding: [1, 1] };
const odd: Case = { x: [1, 2, 3, 5], w: [2, 7, 3, 2], stride: [3, 2], padding: [1, 0], outputPadding: [2, 1], dilation: [1, 2] };
const cases: [Case, ConvGemmConfig, ConvFilterConfig][] = [
  [dcgan, 'dbuf_128x128_8x8', 'dbuf_split_128x128_8x8'],
  [odd, 'dbuf_64x64_8x8', 'dbuf_split_64x64_8x8'],
];
// L = sum(dy ⊙ convT(x, w) + b) is linear in each argument: central differences are exact up to rounding.
const EPS = 1e-3;

describe('conv_transpose2d on the double-buffered tiles', () => {
  for (const [c, gemm, filter] of cases) {
    it(`forward ${label(c)} tanh (${gemm}) matches float64 reference`, async () => {
      const [x, w, b] = [uniform(size(c.x), 1), uniform(size(c.w), 2), uniform(c.w[1], 3)];
      const [xt, wt, bt] = [tensor(engine(), x, c.x), tensor(engine(), w, c.w), tensor(engine(), b, [c.w[1]])];
      const y = convTranspose2d(xt, wt, { ...attrsOf(c), bias: bt, activation: 'tanh', config: gemm });
      const expected = ref(c, x, w, b);
      expect(y.shape).toEqual(expected.shape);
      const [got] = await readAll(y, xt, wt, bt);
      expectClose(got, activateAll('tanh', expected.data), { atol: 2e-5, rtol: 1e-4 }, label(c));
    });

    it(`backward-data ${label(c)} (${gemm}) matches finite differences`, async () => {
      const [x, w] = [uniform(size(c.x), 4), uniform(size(c.w), 5)];
      const dy = uniform(size(outShape(c)), 6);
      const [dyt, wt] = [tensor(engine(), dy, outShape(c)), tensor(engine(), w, c.w)];
      const dx = convTranspose2dBackwardData(dyt, wt, c.x, { ...attrsOf(c), config: gemm });
      const [got] = await readAll(dx, dyt, wt);
      expectClose(got, numericGradient((v) => dot(dy, ref(c, v, w).data), x, EPS), { atol: 2e-5, rtol: 1e-4 }, `dx ${label(c)}`);
    });

    it(`backward-filter ${label(c)} with bias (${filter}) matches finite differences`, async () => {
      const [x, w] = [uniform(size(c.x), 7), uniform(size(c.w), 8)];
      const dy = uniform(size(outShape(c)), 9);
      const [xt, dyt] = [tensor(engine(), x, c.x), tensor(engine(), dy, outShape(c))];
      const { dw, dbias } = convTranspose2dBackwardFilter(xt, dyt, c.w, { ...attrsOf(c), bias: true, config: filter });
      expect(dw.shape).toEqual(c.w);
      const [gotW, gotB] = await readAll(dw, dbias!, xt, dyt);
      expectClose(gotW, numericGradient((v) => dot(dy, ref(c, x, v).data), w, EPS), { atol: 5e-5, rtol: 1e-4 }, `dw ${label(c)}`);
      expectClose(gotB, numericGradient((v) => dot(dy, ref(c, x, w, v).data), new Float64Array(c.w[1]), EPS), { atol: 5e-5, rtol: 1e-4 }, 'dbias');
    });
  }
});
