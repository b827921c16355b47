import { describe, expect, it } from 'vitest';
import {
  avgPool2d,
  avgPool2dBackward,
  globalAvgPool,
  globalAvgPoolBackward,
  maxPool2d,
  maxPool2dBackward,
} from '../../src/eager/pool2d.js';
import { tensor } from '../../src/eager/tensor.js';
import { createGraph } from '../../src/graph/graph.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { useEngine } from '../helpers/engine.js';
import { dot, expectClose, numericGradient } from '../helpers/compare.js';
import { rng, uniform } from '../helpers/random.js';
import { avgPool, globalAvgPool as refGlobal, maxPool, outSize, type RefPool } from '../reference/pool2d.js';

const engine = useEngine();
const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Distinct values 0.01 apart in random order: no ties, so finite differences never cross an argmax switch. */
function distinct(n: number, seed: number): Float32Array {
  const next = rng(seed);
  const order = Array.from({ length: n }, (_, i) => i).sort(() => next() - 0.5);
  return Float32Array.from(order, (k) => (k - n / 2) * 0.01);
}

interface Case {
  shape: number[];
  kernel: [number, number];
  stride?: [number, number];
  padding?: [number, number];
  dilation?: [number, number];
}

function ref(c: Case, countIncludePad = true): RefPool {
  return {
    kernel: c.kernel,
    stride: c.stride ?? c.kernel,
    padding: c.padding ?? [0, 0],
    dilation: c.dilation ?? [1, 1],
    countIncludePad,
  };
}

// Overlapping windows (stride < kernel), non-square kernels and inputs, odd sizes, batch 1, padding, dilation.
const cases: Case[] = [
  { shape: [1, 1, 7, 7], kernel: [3, 3], stride: [2, 2] },
  { shape: [2, 3, 7, 5], kernel: [3, 3], stride: [1, 1], padding: [1, 1] },
  { shape: [3, 1, 4, 6], kernel: [2, 2] },
  { shape: [1, 2, 9, 8], kernel: [3, 2], stride: [2, 1], padding: [1, 0] },
  { shape: [1, 1, 1, 1], kernel: [1, 1] },
  { shape: [1, 2, 33, 17], kernel: [3, 3], stride: [2, 2], padding: [1, 1] },
];
const dilated: Case[] = [
  { shape: [1, 2, 9, 8], kernel: [3, 2], stride: [2, 1], padding: [1, 0], dilation: [2, 3] },
  { shape: [2, 1, 7, 7], kernel: [2, 2], stride: [1, 1], padding: [1, 1], dilation: [2, 2] },
];

describe('pool2d', () => {
  it('max pooling forward and argmax match float64', async () => {
    for (const c of [...cases, ...dilated]) {
      const x = distinct(size(c.shape), size(c.shape));
      const xt = tensor(engine(), x, c.shape);
      const { y, argmax } = maxPool2d(xt, c);
      const r = maxPool(x, c.shape, ref(c));
      expect(y.shape).toEqual([c.shape[0], c.shape[1], ...outSize(c.shape, ref(c))]);
      expectClose(await y.read(), r.y, { atol: 0, rtol: 0 }, `max [${c.shape}] k${c.kernel}`);
      expect(Array.from(await argmax.read()), `argmax [${c.shape}]`).toEqual(Array.from(r.argmax));
      for (const t of [xt, y, argmax]) t.dispose();
    }
  });

  it('max pooling keeps the first maximum of a tie, as PyTorch does', async () => {
    const xt = tensor(engine(), [1, 5, 5, 2, 5, 1, 0, 0, 0], [1, 1, 3, 3]);
    const { y, argmax } = maxPool2d(xt, { kernel: 2, stride: 1 });
    expect(Array.from(await y.read())).toEqual([5, 5, 5, 5]);
    expect(Array.from(await argmax.read())).toEqual([1, 1, 4, 4]);
    for (const t of [xt, y, argmax]) t.dispose();
  });

  it('max pooling backward matches finite differences, overlapping windows included', async () => {
    for (const c of [...cases.slice(0, 5), ...dilated]) {
      const x = distinct(size(c.shape), 3 * size(c.shape));
      const [oh, ow] = outSize(c.shape, ref(c));
      const outShape = [c.shape[0], c.shape[1], oh, ow];
      const dy = uniform(size(outShape), 7);
      const xt = tensor(engine(), x, c.shape);
      const dyt = tensor(engine(), dy, outShape);
      const { y, argmax } = maxPool2d(xt, c);
      const dx = maxPool2dBackward(dyt, argmax, c.shape, c);
      const numeric = numericGradient((v) => dot(dy, maxPool(v, c.shape, ref(c)).y), x, 1e-3);
      expectClose(await dx.read(), numeric, { atol: 1e-5, rtol: 1e-5 }, `max dx [${c.shape}] k${c.kernel}`);
      for (const t of [xt, dyt, y, argmax, dx]) t.dispose();
    }
  });

  for (const countIncludePad of [true, false]) {
    it(`average pooling (countIncludePad ${countIncludePad}) forward and backward`, async () => {
      for (const [k, c] of cases.entries()) {
        const x = uniform(size(c.shape), size(c.shape) + 1, -2, 2);
        const opts = { ...c, countIncludePad };
        const xt = tensor(engine(), x, c.shape);
        const y = avgPool2d(xt, opts);
        expectClose(await y.read(), avgPool(x, c.shape, ref(c, countIncludePad)), { atol: 1e-6, rtol: 1e-5 }, `avg [${c.shape}]`);
        if (k < 5) {
          const dy = uniform(y.size, 11);
          const dyt = tensor(engine(), dy, y.shape);
          const dx = avgPool2dBackward(dyt, c.shape, opts);
          const numeric = numericGradient((v) => dot(dy, avgPool(v, c.shape, ref(c, countIncludePad))), x, 1e-3);
          expectClose(await dx.read(), numeric, { atol: 1e-5, rtol: 1e-5 }, `avg dx [${c.shape}]`);
          dyt.dispose();
          dx.dispose();
        }
        xt.dispose();
        y.dispose();
      }
    });
  }

  it('global average pooling forward and backward', async () => {
    // H*W of 289 over 3 planes splits each plane into chunks and sums the partials in a second pass.
    for (const shape of [[1, 1, 1, 1], [2, 3, 7, 5], [4, 2, 3, 3], [1, 3, 17, 17]]) {
      const x = uniform(size(shape), size(shape), -2, 2);
      const xt = tensor(engine(), x, shape);
      const y = globalAvgPool(xt);
      expect(y.shape).toEqual(shape.slice(0, 2));
      expectClose(await y.read(), refGlobal(x, shape), { atol: 1e-6, rtol: 1e-5 }, `gap [${shape}]`);
      const dy = uniform(y.size, 5);
      const dyt = tensor(engine(), dy, y.shape);
      const dx = globalAvgPoolBackward(dyt, shape);
      const numeric = numericGradient((v) => dot(dy, refGlobal(v, shape)), x, 1e-3);
      expectClose(await dx.read(), numeric, { atol: 1e-5, rtol: 1e-5 }, `gap dx [${shape}]`);
      for (const t of [xt, y, dyt, dx]) t.dispose();
    }
  });

  it('rejects bad shapes and attributes before touching the GPU', () => {
    const xt = tensor(engine(), uniform(2 * 3 * 4 * 5, 1), [2, 3, 4, 5]);
    expect(() => maxPool2d(xt, { kernel: 6 })).toThrow(ShapeError);
    expect(() => maxPool2d(xt, { kernel: 6 })).toThrow(/maxPool2d: window \[6, 6\] is larger than the padded input \[4, 5\]/);
    expect(() => avgPool2d(xt, { kernel: 3, padding: 2 })).toThrow(/avgPool2d: padding \[2, 2\] exceeds half the window \[3, 3\]/);
    expect(() => maxPool2d(xt, { kernel: 2, stride: 0 })).toThrow(/stride 0 must be integers >= 1/);
    const dot1 = tensor(engine(), [1], [1, 1, 1, 1]);
    expect(() => maxPool2d(dot1, { kernel: 2, stride: 1, padding: 2, dilation: 3 })).toThrow(/some windows of input \[1, 1, 1, 1\] cover only padding/);
    const flat = tensor(engine(), [1, 2], [2]);
    expect(() => globalAvgPool(flat)).toThrow(/globalAvgPool: input \[2\] must be 4-D/);
    const dy = tensor(engine(), uniform(6, 2), [2, 3]);
    expect(() => avgPool2dBackward(dy, [2, 3, 4, 5], { kernel: 2 })).toThrow(/avgPool2d backward: dy \[2, 3\] does not match the pooled output \[2, 3, 2, 2\]/);
    for (const t of [xt, dot1, flat, dy]) t.dispose();
  });

  it('graph rules of the backward ops refuse a dy or argmax that is not the pooled output of inputShape', () => {
    // Input [2, 3, 4, 5], window 2 (stride 2): pooled output [2, 3, 2, 2].
    const inputShape = [2, 3, 4, 5];
    const window = { kernel: [2, 2], stride: [2, 2], padding: [0, 0] } as const;
    const maxAttrs = { ...window, dilation: [1, 1] as const, inputShape };
    const avgAttrs = { ...window, countIncludePad: true, inputShape };
    const fix = /pass the gradient of the forward pooling of that input with the same window, stride, padding and dilation/;
    const g = createGraph();
    const good = g.input('dy', [2, 3, 2, 2]);
    const argmax = g.input('argmax', [2, 3, 2, 2], 'u32');
    expect(g.apply('max_pool2d_backward', [good, argmax], maxAttrs)[0].shape).toEqual(inputShape);
    expect(g.apply('avg_pool2d_backward', [good], avgAttrs)[0].shape).toEqual(inputShape);

    for (const shape of [[2, 3, 2, 3], [2, 3, 4], [1, 3, 2, 2]]) {
      const dy = g.input(`dy${shape.join('x')}`, shape);
      const named = `dy [${shape.join(', ')}] does not match the pooled output [2, 3, 2, 2] of input [2, 3, 4, 5]`;
      expect(() => g.apply('max_pool2d_backward', [dy, argmax], maxAttrs)).toThrow(ShapeError);
      expect(() => g.apply('max_pool2d_backward', [dy, argmax], maxAttrs)).toThrow(`max_pool2d_backward: ${named}`);
      expect(() => g.apply('max_pool2d_backward', [dy, argmax], maxAttrs)).toThrow(fix);
      expect(() => g.apply('avg_pool2d_backward', [dy], avgAttrs)).toThrow(ShapeError);
      expect(() => g.apply('avg_pool2d_backward', [dy], avgAttrs)).toThrow(`avg_pool2d_backward: ${named}`);
      expect(() => g.apply('avg_pool2d_backward', [dy], avgAttrs)).toThrow(fix);
    }
    const wrongArgmax = g.input('argmax3', [2, 3, 3, 2], 'u32');
    expect(() => g.apply('max_pool2d_backward', [good, wrongArgmax], maxAttrs)).toThrow(
      /max_pool2d_backward: argmax \[2, 3, 3, 2\] does not match the pooled output \[2, 3, 2, 2\] of input \[2, 3, 4, 5\]; pass the argmax saved by the forward pooling/,
    );
    expect(() => g.apply('max_pool2d_backward', [good, good], maxAttrs)).toThrow(/max_pool2d_backward: argmax must be u32 \(the max_pool2d output 1\), got f32/);
    expect(() => g.apply('max_pool2d_backward', [argmax, argmax], maxAttrs)).toThrow(/max_pool2d_backward: dy must be f32, got u32/);
    expect(() => g.apply('avg_pool2d_backward', [good, good], avgAttrs)).toThrow(/avg_pool2d_backward: expects 1 inputs \(dy\), got 2/);
  });

  it('leaves no buffers alive', async () => {
    await engine().sync();
    expect(engine().stats.liveBuffers).toBe(0);
  });
});
