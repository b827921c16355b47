import { describe, expect, it } from 'vitest';
import { conv2d, conv2dBackwardData, conv2dBackwardFilter } from '../../src/eager/conv2d.js';
import { tensor } from '../../src/eager/tensor.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { conv2dBackwardFilterTuning, conv2dParams, conv2dTuning, type ConvFilterConfig, type ConvGemmConfig } from '../../src/kernels/conv2d.js';
import { dot, expectClose, numericGradient } from '../helpers/compare.js';
import { useEngine } from '../helpers/engine.js';
import { type ConvCase as Case, convAttrs as attrsOf, convLabel as label, expectConv2dForward, readAll, size } from '../helpers/conv_cases.js';
import { uniform } from '../helpers/random.js';
import { conv2dRef } from '../reference/conv2d.js';

const engine = useEngine();

describe('conv2d forward', () => {
  // Batch 1, Cin 1 and 3, Cout 1/7/33, spatial 1×1 to 13×13, kernels 1×1 to 5×5 (5×5 exercises the
  // run-time kh loop), stride, padding, dilation and asymmetric attributes; each config forced.
  const cases: [Case, ConvGemmConfig, 'none' | 'relu' | 'sigmoid'][] = [
    [{ x: [1, 1, 5, 7], w: [7, 1, 3, 3], padding: [1, 1] }, 'direct_4x4', 'relu'],
    [{ x: [2, 3, 13, 13], w: [33, 3, 5, 5], stride: [2, 2], padding: [2, 2] }, 'direct_8x4', 'none'],
    [{ x: [1, 3, 1, 1], w: [1, 3, 1, 1] }, 'tiled_32x32', 'sigmoid'],
    [{ x: [2, 3, 9, 11], w: [7, 3, 2, 3], stride: [2, 1], padding: [1, 2], dilation: [2, 1] }, 'tiled_32x32', 'none'],
    [{ x: [2, 3, 9, 11], w: [7, 3, 2, 3], stride: [2, 1], padding: [1, 2], dilation: [2, 1] }, 'direct_4x4', 'none'],
    [{ x: [3, 3, 13, 13], w: [33, 3, 3, 3], dilation: [2, 2] }, 'direct_4x4', 'relu'],
  ];
  for (const [c, config, act] of cases) {
    it(`${label(c)} ${act} (${config}) matches float64 reference`, async () => {
      // Sums of up to 75 products of values in [-1, 1]: f32 error well under 1e-5.
      await expectConv2dForward(engine(), c, act, config, { atol: 2e-5, rtol: 1e-4 }, label(c));
    });
  }

  it('offers a workgroup-memory and a register-only candidate per shape class', () => {
    const { shapeClass, candidates } = conv2dTuning(conv2dParams([64, 32, 26, 26], [64, 32, 3, 3]));
    expect(shapeClass).toMatch(/^conv2d\|/);
    expect(candidates.map((c) => c.id)).toEqual(['direct_4x4', 'direct_8x4', 'tiled_32x32', 'dbuf_128x128_8x8', 'dbuf_64x64_8x8']);
    expect(candidates.some((c) => c.spec.code.includes('var<workgroup>'))).toBe(true);
    expect(candidates.some((c) => !c.spec.code.includes('var<workgroup>'))).toBe(true);
  });
});

/** L = sum(dy ⊙ conv(x, w) + bias), the loss whose gradients the backward kernels compute. */
function loss(c: Case, dy: ArrayLike<number>) {
  return {
    ofX: (w: ArrayLike<number>) => (x: Float64Array) => dot(dy, conv2dRef(x, c.x, w, c.w, attrsOf(c)).data),
    ofW: (x: ArrayLike<number>) => (w: Float64Array) => dot(dy, conv2dRef(x, c.x, w, c.w, attrsOf(c)).data),
    ofB: (x: ArrayLike<number>, w: ArrayLike<number>) => (b: Float64Array) => dot(dy, conv2dRef(x, c.x, w, c.w, attrsOf(c), b).data),
  };
}

function outShape(c: Case): number[] {
  return conv2dRef(new Float64Array(size(c.x)), c.x, new Float64Array(size(c.w)), c.w, attrsOf(c)).shape;
}

describe('conv2d backward', () => {
  // L is linear in each argument, so central differences are exact up to rounding; eps 1e-3 keeps that small.
  const EPS = 1e-3;
  const dataCases: [Case, ConvGemmConfig][] = [
    [{ x: [2, 3, 7, 9], w: [5, 3, 3, 3], stride: [2, 2], padding: [1, 1] }, 'direct_4x4'],
    [{ x: [1, 2, 6, 5], w: [4, 2, 2, 3], stride: [1, 2], padding: [0, 1], dilation: [2, 1] }, 'tiled_32x32'],
    [{ x: [2, 1, 5, 5], w: [3, 1, 3, 3], padding: [2, 2] }, 'direct_8x4'],
  ];
  for (const [c, config] of dataCases) {
    it(`backward-data ${label(c)} (${config}) matches finite differences`, async () => {
      const x = uniform(size(c.x), 4);
      const w = uniform(size(c.w), 5);
      const dyShape = outShape(c);
      const dy = uniform(size(dyShape), 6);
      const dyt = tensor(engine(), dy, dyShape);
      const wt = tensor(engine(), w, c.w);
      const dx = conv2dBackwardData(dyt, wt, c.x, { ...attrsOf(c), config });
      expect(dx.shape).toEqual(c.x);
      const [got] = await readAll(dx, dyt, wt);
      expectClose(got, numericGradient(loss(c, dy).ofX(w), x, EPS), { atol: 2e-5, rtol: 1e-4 }, `dx ${label(c)}`);
    });
  }

  const filterCases: [Case, ConvFilterConfig, boolean][] = [
    // 33 rows of 11 positions: several splits, so the partial-sum reduction runs.
    [{ x: [3, 2, 13, 13], w: [4, 2, 3, 3], padding: [1, 1], stride: [1, 1] }, 'split_4x4_4k', true],
    [{ x: [1, 1, 5, 7], w: [7, 1, 2, 3], padding: [2, 1], dilation: [2, 1] }, 'split_8x4_4k', false],
    [{ x: [2, 3, 7, 9], w: [5, 3, 3, 3], stride: [2, 2], padding: [1, 1] }, 'split_4x4_32k', true],
  ];
  for (const [c, config, bias] of filterCases) {
    it(`backward-filter ${label(c)} bias ${bias} (${config}) matches finite differences`, async () => {
      const x = uniform(size(c.x), 7);
      const w = uniform(size(c.w), 8);
      const dyShape = outShape(c);
      const dy = uniform(size(dyShape), 9);
      const xt = tensor(engine(), x, c.x);
      const dyt = tensor(engine(), dy, dyShape);
      const { dw, dbias } = conv2dBackwardFilter(xt, dyt, c.w, { ...attrsOf(c), bias, config });
      expect(dw.shape).toEqual(c.w);
      expect(dbias === undefined).toBe(!bias);
      const [gotW, gotB] = await readAll(dw, ...(dbias ? [dbias] : []), xt, dyt);
      const L = loss(c, dy);
      // Reductions over up to 363 products: scale the tolerance with the length.
      expectClose(gotW, numericGradient(L.ofW(x), w, EPS), { atol: 1e-4, rtol: 1e-4 }, `dw ${label(c)}`);
      if (bias) expectClose(gotB, numericGradient(L.ofB(x, w), new Float64Array(c.w[0]), EPS), { atol: 1e-4, rtol: 1e-4 }, 'dbias');
    });
  }
});

describe('conv2d backward-filter tuning', () => {
  it('times each candidate with the sum of its partials, bound so that the sum writes dW', async () => {
    const c: Case = { x: [3, 2, 13, 13], w: [4, 2, 3, 3], padding: [1, 1] };
    const x = uniform(size(c.x), 7);
    const dy = uniform(size(outShape(c)), 9);
    const tuning = conv2dBackwardFilterTuning(conv2dParams(c.x, c.w, attrsOf(c)));
    expect(tuning.tuneBytes[1]).toBe(size(c.w) * 4);
    const buffers = [dy.length * 4, x.length * 4, ...tuning.tuneBytes].map((b, i) => engine().createStorage(b, `tune ${i}`));
    engine().upload(buffers[0], dy);
    engine().upload(buffers[1], x);
    const xt = tensor(engine(), x, c.x);
    const dyt = tensor(engine(), dy, outShape(c));
    for (const candidate of tuning.candidates) {
      expect(candidate.after?.map((l) => [l.spec.name, l.buffers])).toEqual([[expect.stringMatching(/_split_sum$/), [2, 3]]]);
      engine().upload(buffers[3], new Float32Array(size(c.w)));
      await engine().flush();
      const ms = await engine().tuner.time([{ spec: candidate.spec, buffers: [0, 1, 2] }, ...candidate.after!], buffers);
      expect(Number.isFinite(ms) && ms > 0).toBe(true);
      const timed = new Float32Array(await engine().readBytes(buffers[3], size(c.w) * 4));
      const { dw } = conv2dBackwardFilter(xt, dyt, c.w, { ...attrsOf(c), config: candidate.id as ConvFilterConfig });
      const [expected] = await readAll(dw);
      expectClose(timed, expected, { atol: 1e-5, rtol: 1e-5 }, `dW timed with ${candidate.id}`);
    }
    xt.dispose();
    dyt.dispose();
    for (const b of buffers) engine().buffers.destroy(b);
  });
});

describe('conv2d shape errors', () => {
  it('rejects bad shapes and attributes before any GPU work', () => {
    const e = engine();
    const x = tensor(e, new Float32Array(2 * 3 * 5 * 5), [2, 3, 5, 5]);
    const w = tensor(e, new Float32Array(4 * 2 * 3 * 3), [4, 2, 3, 3]);
    const big = tensor(e, new Float32Array(4 * 3 * 7 * 7), [4, 3, 7, 7]);
    const flat = tensor(e, new Float32Array(12), [4, 3]);
    const before = e.stats.liveBuffers;
    expect(() => conv2d(x, w)).toThrow(ShapeError);
    expect(() => conv2d(x, w)).toThrow(/conv2d: input \[2, 3, 5, 5\] has 3 channels but weight \[4, 2, 3, 3\] expects Cin = 2/);
    expect(() => conv2d(x, big)).toThrow(/smaller than the dilated kernel extent 7.*add padding/);
    expect(() => conv2d(x, flat)).toThrow(/weight \[4, 3\] must be 4-D/);
    expect(() => conv2d(x, big, { padding: 1, stride: 0 })).toThrow(/stride 0 must be positive/);
    expect(() => conv2dBackwardData(x, big, [2, 3, 9, 9])).toThrow(/conv2d_backward_data: gradient \[2, 3, 5, 5\] does not match the conv output \[2, 4, 3, 3\]/);
    expect(() => conv2dBackwardFilter(x, x, [4, 3, 3, 3])).toThrow(/conv2d_backward_filter: gradient \[2, 3, 5, 5\] does not match the conv output/);
    expect(e.stats.liveBuffers).toBe(before);
    for (const t of [x, w, big, flat]) t.dispose();
  });

  it('leaves no buffers alive', () => {
    expect(engine().stats.liveBuffers).toBe(0);
  });
});
