import { activateAll } from './activation.js';
import type { RefOp } from './ref_op.js';

/** Float64 conv2d written from its definition (PyTorch's Conv2d, NCHW, weight [Cout, Cin, KH, KW]). */

export interface RefConvAttrs {
  stride?: [number, number];
  padding?: [number, number];
  dilation?: [number, number];
}

export interface RefTensor {
  data: Float64Array;
  shape: [number, number, number, number];
}

export function conv2dRef(
  x: ArrayLike<number>,
  xShape: readonly number[],
  w: ArrayLike<number>,
  wShape: readonly number[],
  attrs: RefConvAttrs = {},
  bias?: ArrayLike<number>,
): RefTensor {
  const [n, cin, h, wd] = xShape;
  const [cout, , kh, kw] = wShape;
  const [sh, sw] = attrs.stride ?? [1, 1];
  const [ph, pw] = attrs.padding ?? [0, 0];
  const [dh, dw] = attrs.dilation ?? [1, 1];
  const oh = Math.floor((h + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((wd + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  const out = new Float64Array(n * cout * oh * ow);
  for (let b = 0; b < n; b++)
    for (let co = 0; co < cout; co++)
      for (let oy = 0; oy < oh; oy++)
        for (let ox = 0; ox < ow; ox++) {
          let s = bias ? bias[co] : 0;
          for (let ci = 0; ci < cin; ci++)
            for (let i = 0; i < kh; i++)
              for (let j = 0; j < kw; j++) {
                const y = oy * sh - ph + i * dh;
                const xx = ox * sw - pw + j * dw;
                if (y < 0 || y >= h || xx < 0 || xx >= wd) continue;
                s += x[((b * cin + ci) * h + y) * wd + xx] * w[((co * cin + ci) * kh + i) * kw + j];
              }
          out[((b * cout + co) * oh + oy) * ow + ox] = s;
        }
  return { data: out, shape: [n, cout, oh, ow] };
}

interface ConvGeometry {
  stride: readonly [number, number];
  padding: readonly [number, number];
  dilation: readonly [number, number];
}

/**
 * Visits every (input element, weight element, output element) triple of conv2d with input
 * `xs` [N, Cin, H, W] and weight `ws` [Cout, Cin/groups, KH, KW] producing `ys`: y += x·w for each.
 * Forward, both gradients and the transposed conv are this one loop read in different directions.
 */
export function convVisit(xs: readonly number[], ws: readonly number[], ys: readonly number[], a: ConvGeometry, fn: (xi: number, wi: number, yi: number) => void): void {
  const [n, cin, h, w] = xs;
  // Grouped weights are [Cout, Cin/groups, KH, KW]: output channel co sees the inputs of its group.
  const [[cout, perGroup, kh, kw], [, , oh, ow]] = [ws, ys];
  const outPerGroup = cout / (cin / perGroup);
  for (let b = 0; b < n; b++)
    for (let co = 0; co < cout; co++)
      for (let oy = 0; oy < oh; oy++)
        for (let ox = 0; ox < ow; ox++)
          for (let cl = 0; cl < perGroup; cl++)
            for (let i = 0; i < kh; i++)
              for (let j = 0; j < kw; j++) {
                const ci = Math.floor(co / outPerGroup) * perGroup + cl;
                const iy = oy * a.stride[0] - a.padding[0] + i * a.dilation[0];
                const ix = ox * a.stride[1] - a.padding[1] + j * a.dilation[1];
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                fn(((b * cin + ci) * h + iy) * w + ix, ((co * perGroup + cl) * kh + i) * kw + j, ((b * cout + co) * oh + oy) * ow + ox);
              }
}

export const conv2dOpRef: RefOp<'conv2d'> = ([x, w], { attrs, inputs: [xV, wV], outputs: [out] }) => {
  const r = new Float64Array(out.size);
  convVisit(xV.shape, wV.shape, out.shape, attrs, (xi, wi, yi) => (r[yi] += x[xi] * w[wi]));
  return [r];
};

/** Defined as its composition: conv2d, + bias per channel, activation. */
export const conv2dFusedRef: RefOp<'conv2d_fused'> = (x, step) => {
  const { attrs, outputs: [out] } = step;
  let [y] = conv2dOpRef(x, { ...step, op: 'conv2d' }, 0);
  if (attrs.bias) {
    const plane = out.shape[2] * out.shape[3];
    y = y.map((v, i) => v + x[2][Math.floor(i / plane) % out.shape[1]]);
  }
  return [activateAll(attrs.activation.kind, y, attrs.activation.alpha)];
};

/** dx[xi] = Σ dy[yi]·w[wi] over the forward's triples. */
export const conv2dBackwardDataRef: RefOp<'conv2d_backward_data'> = ([dy, w], { attrs, inputs: [dyV, wV], outputs: [out] }) => {
  const r = new Float64Array(out.size);
  convVisit(attrs.inputShape, wV.shape, dyV.shape, attrs, (xi, wi, yi) => (r[xi] += dy[yi] * w[wi]));
  return [r];
};

/** dw[wi] = Σ x[xi]·dy[yi]. */
export const conv2dBackwardFilterRef: RefOp<'conv2d_backward_filter'> = ([x, dy], { attrs, inputs: [xV, dyV], outputs: [out] }) => {
  const r = new Float64Array(out.size);
  convVisit(xV.shape, attrs.weightShape, dyV.shape, attrs, (xi, wi, yi) => (r[wi] += x[xi] * dy[yi]));
  return [r];
};
