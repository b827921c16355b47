import { describe, expect, it } from 'vitest';
import { conv2dBackwardData, conv2dBackwardFilter } from '../../src/eager/conv2d.js';
import { tensor } from '../../src/eager/tensor.js';
import type { ConvFilterConfig, ConvGemmConfig } from '../../src/kernels/conv2d.js';
import { expectClose } from '../helpers/compare.js';
import { useEngine } from '../helpers/engine.js';
import { type ConvCase as Case, convAttrs as attrsOf, convLabel as label, expectConv2dForward, readAll, size } from '../helpers/conv_cases.js';
import { uniform } from '../helpers/random.js';
import { conv2dBackwardDataRef, conv2dBackwardFilterRef, conv2dOutputShapeRef } from '../reference/conv2d_backward.js';

const engine = useEngine();

const GEMM_CONFIGS: ConvGemmConfig[] = ['dbuf_128x128_8x8', 'dbuf_64x64_8x8'];
const FILTER_CONFIGS: ConvFilterConfig[] = ['dbuf_split_128x128_8x8', 'dbuf_split_64x64_8x8'];

/** f32 sums of `terms` products of values in [-1, 1] against float64: error grows with the length. */
const tolerance = (terms: number) => ({ atol: 2e-6 * Math.sqrt(terms) + 1e-6, rtol: 1e-4 });

describe('conv2d forward, double-buffered implicit GEMM', () => {
  // Channels and positions not multiples of the tiles (and more than one tile of each), batch,
  // channel and spatial sizes of 1, stride 2, 'same' padding, dilation, kernels 1×1, 3×3 and 5×5,
  // reductions shorter than, equal to and not a multiple of the 8-row step.
  // Cases sharing a kernel size, padding and activation share a shader (SwiftShader compiles each
  // variant for seconds).
  const cases: [Case, 'none' | 'relu' | 'sigmoid'][] = [
    [{ x: [1, 1, 5, 7], w: [7, 1, 3, 3], padding: [1, 1] }, 'relu'],
    [{ x: [2, 4, 12, 12], w: [9, 4, 3, 3], padding: [1, 1] }, 'relu'],
    [{ x: [2, 3, 13, 13], w: [33, 3, 5, 5], stride: [2, 2], padding: [2, 2] }, 'none'],
    [{ x: [2, 5, 9, 11], w: [7, 5, 2, 3], stride: [2, 1], padding: [1, 2], dilation: [2, 1] }, 'none'],
    [{ x: [1, 3, 1, 1], w: [1, 3, 1, 1] }, 'sigmoid'],
    [{ x: [3, 20, 6, 6], w: [130, 20, 1, 1] }, 'sigmoid'],
  ];
  for (const config of GEMM_CONFIGS) {
    for (const [c, act] of cases) {
      it(`${label(c)} ${act} (${config}) matches float64 reference`, async () => {
        await expectConv2dForward(engine(), c, act, config, tolerance(c.w[1] * c.w[2] * c.w[3]), `${config} ${label(c)}`);
      });
    }
  }
});

describe('conv2d backward-data, double-buffered implicit GEMM', () => {
  // The transposed gather: strided (divisibility tests), dilated, 5×5 with 'same' padding, and an
  // input of 130 channels (two channel tiles).
  const cases: Case[] = [
    { x: [2, 3, 7, 9], w: [5, 3, 3, 3], stride: [2, 2], padding: [1, 1] },
    { x: [1, 130, 5, 4], w: [6, 130, 3, 3], stride: [2, 2], padding: [1, 1] },
    { x: [1, 2, 6, 5], w: [4, 2, 2, 3], stride: [1, 2], padding: [0, 1], dilation: [2, 1] },
    { x: [2, 1, 5, 5], w: [3, 1, 5, 5], padding: [2, 2] },
  ];
  for (const config of GEMM_CONFIGS) {
    for (const c of cases) {
      it(`${label(c)} (${config}) matches float64 reference`, async () => {
        const w = uniform(size(c.w), 5);
        const dyShape = conv2dOutputShapeRef(c.x, c.w, attrsOf(c));
        const dy = uniform(size(dyShape), 6);
        const dyt = tensor(engine(), dy, dyShape);
        const wt = tensor(engine(), w, c.w);
        const dx = conv2dBackwardData(dyt, wt, c.x, { ...attrsOf(c), config });
        expect(dx.shape).toEqual(c.x);
        const [got] = await readAll(dx, dyt, wt);
        expectClose(got, conv2dBackwardDataRef(dy, c.x, w, c.w, attrsOf(c)), tolerance(c.w[0] * c.w[2] * c.w[3]), `${config} dx ${label(c)}`);
      });
    }
  }
});

describe('conv2d backward-filter, double-buffered and split along N·OH·OW', () => {
  // Reductions shorter than one step and long enough for several splits (4·18·18 = 1296 > 256),
  // more than 128 columns (Cin·KH·KW = 144), 1×1 and 5×5 kernels, stride 2, dilation, padding,
  // and all-ones sizes.
  const cases: [Case, boolean][] = [
    [{ x: [3, 2, 13, 13], w: [4, 2, 3, 3], padding: [1, 1] }, true],
    [{ x: [2, 16, 6, 6], w: [3, 16, 3, 3], padding: [1, 1] }, false],
    [{ x: [4, 2, 18, 18], w: [4, 2, 3, 3], padding: [1, 1] }, false],
    [{ x: [2, 3, 9, 9], w: [5, 3, 5, 5], stride: [2, 2], padding: [2, 2], dilation: [2, 1] }, true],
    [{ x: [2, 20, 6, 6], w: [9, 20, 1, 1] }, false],
    [{ x: [1, 1, 1, 1], w: [1, 1, 1, 1] }, true],
  ];
  for (const config of FILTER_CONFIGS) {
    for (const [c, bias] of cases) {
      it(`${label(c)} bias ${bias} (${config}) matches float64 reference`, async () => {
        const x = uniform(size(c.x), 7);
        const dyShape = conv2dOutputShapeRef(c.x, c.w, attrsOf(c));
        const dy = uniform(size(dyShape), 9);
        const xt = tensor(engine(), x, c.x);
        const dyt = tensor(engine(), dy, dyShape);
        const { dw, dbias } = conv2dBackwardFilter(xt, dyt, c.w, { ...attrsOf(c), bias, config });
        expect(dw.shape).toEqual(c.w);
        const [gotW, ...rest] = await readAll(dw, ...(dbias ? [dbias] : []), xt, dyt);
        const terms = size(dyShape) / c.w[0];
        expectClose(gotW, conv2dBackwardFilterRef(x, c.x, dy, c.w, attrsOf(c)), tolerance(terms), `${config} dw ${label(c)}`);
        if (bias) {
          const db = new Float64Array(c.w[0]);
          dy.forEach((v, i) => (db[Math.floor(i / (dyShape[2] * dyShape[3])) % c.w[0]] += v));
          expectClose(rest[0], db, tolerance(terms), 'dbias');
        }
      });
    }
  }
});
