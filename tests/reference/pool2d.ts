import type { PoolAttrs } from '../../src/graph/ops/kinds.js';
import type { RefOp } from './ref_op.js';

/** Float64 2-D pooling over NCHW, written from PyTorch's documented definitions. */
export interface RefPool {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  countIncludePad: boolean;
}

export function outSize(shape: readonly number[], p: RefPool): [number, number] {
  const o = (d: 0 | 1) => Math.floor((shape[2 + d] + 2 * p.padding[d] - p.dilation[d] * (p.kernel[d] - 1) - 1) / p.stride[d]) + 1;
  return [o(0), o(1)];
}

/** Visits the input positions of each output window: fn(plane, outIndex, iy, ix, inside). */
function windows(shape: readonly number[], p: RefPool, fn: (plane: number, o: number, iy: number, ix: number, inside: boolean) => void): void {
  const [n, c, h, w] = shape;
  const [oh, ow] = outSize(shape, p);
  for (let plane = 0; plane < n * c; plane++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++)
        for (let ky = 0; ky < p.kernel[0]; ky++)
          for (let kx = 0; kx < p.kernel[1]; kx++) {
            const iy = oy * p.stride[0] - p.padding[0] + ky * p.dilation[0];
            const ix = ox * p.stride[1] - p.padding[1] + kx * p.dilation[1];
            fn(plane, (plane * oh + oy) * ow + ox, iy, ix, iy >= 0 && iy < h && ix >= 0 && ix < w);
          }
}

export function maxPool(x: ArrayLike<number>, shape: readonly number[], p: RefPool): { y: Float64Array; argmax: Int32Array } {
  const [oh, ow] = outSize(shape, p);
  const count = shape[0] * shape[1] * oh * ow;
  const y = new Float64Array(count).fill(-Infinity);
  const argmax = new Int32Array(count).fill(-1);
  const [h, w] = [shape[2], shape[3]];
  // PyTorch's rule: the first in-window element starts the search; a larger value or any NaN takes
  // over (so the last NaN of a window wins, and the output is NaN).
  windows(shape, p, (plane, o, iy, ix, inside) => {
    if (!inside) return;
    const v = x[plane * h * w + iy * w + ix];
    if (argmax[o] < 0 || v > y[o] || Number.isNaN(v)) {
      y[o] = v;
      argmax[o] = iy * w + ix;
    }
  });
  return { y, argmax };
}

export function avgPool(x: ArrayLike<number>, shape: readonly number[], p: RefPool): Float64Array {
  const [oh, ow] = outSize(shape, p);
  const count = shape[0] * shape[1] * oh * ow;
  const sum = new Float64Array(count);
  const cells = new Float64Array(count);
  const [h, w] = [shape[2], shape[3]];
  windows(shape, p, (plane, o, iy, ix, inside) => {
    // In floor mode every window lies inside the padded input, so counting padding means counting every tap.
    if (inside) sum[o] += x[plane * h * w + iy * w + ix];
    if (inside || p.countIncludePad) cells[o] += 1;
  });
  return sum.map((s, o) => s / cells[o]);
}

/** The adjoint of avgPool: each output's dy spread over the input elements of its window, over its divisor. */
export function avgPoolBackward(dy: ArrayLike<number>, shape: readonly number[], p: RefPool): Float64Array {
  const [oh, ow] = outSize(shape, p);
  const cells = new Float64Array(shape[0] * shape[1] * oh * ow);
  windows(shape, p, (_plane, o, _iy, _ix, inside) => {
    if (inside || p.countIncludePad) cells[o] += 1;
  });
  const [h, w] = [shape[2], shape[3]];
  const dx = new Float64Array(shape[0] * shape[1] * h * w);
  windows(shape, p, (plane, o, iy, ix, inside) => {
    if (inside) dx[plane * h * w + iy * w + ix] += dy[o] / cells[o];
  });
  return dx;
}

export function globalAvgPool(x: ArrayLike<number>, shape: readonly number[]): Float64Array {
  const hw = shape[2] * shape[3];
  const out = new Float64Array(shape[0] * shape[1]);
  for (let i = 0; i < x.length; i++) out[Math.floor(i / hw)] += x[i] / hw;
  return out;
}

/** A pooling op's attributes as the reference takes them (dilation 1 and count_include_pad by default). */
function refPool(a: PoolAttrs & { dilation?: readonly [number, number]; countIncludePad?: boolean }): RefPool {
  const pair = (p: readonly [number, number]): [number, number] => [p[0], p[1]];
  return { kernel: pair(a.kernel), stride: pair(a.stride), padding: pair(a.padding), dilation: a.dilation ? pair(a.dilation) : [1, 1], countIncludePad: a.countIncludePad ?? true };
}

export const maxPool2dRef: RefOp<'max_pool2d'> = ([x], { attrs, inputs: [xV] }) => {
  const r = maxPool(x, xV.shape, refPool(attrs));
  return [r.y, Float64Array.from(r.argmax)];
};

/** dy flows to the input element each window picked (argmax: the index within its plane). */
export const maxPool2dBackwardRef: RefOp<'max_pool2d_backward'> = ([dy, argmax], { attrs: { inputShape }, outputs: [out] }) => {
  const [n, c, h, w] = inputShape;
  const dx = new Float64Array(out.size);
  const outputsPerPlane = dy.length / (n * c);
  dy.forEach((g, o) => (dx[Math.floor(o / outputsPerPlane) * h * w + argmax[o]] += g));
  return [dx];
};

export const avgPool2dRef: RefOp<'avg_pool2d'> = ([x], { attrs, inputs: [xV] }) => [avgPool(x, xV.shape, refPool(attrs))];
export const avgPool2dBackwardRef: RefOp<'avg_pool2d_backward'> = ([dy], { attrs }) => [avgPoolBackward(dy, attrs.inputShape, refPool(attrs))];
