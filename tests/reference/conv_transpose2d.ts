/**
 * Float64 conv_transpose2d written as PyTorch documents it: every input value scatters
 * x[n, ci, y, x] * W[ci, co, kh, kw] to output (y*stride - pad + kh*dil, x*stride - pad + kw*dil).
 */
import { convVisit, type RefConvAttrs, type RefTensor } from './conv2d.js';
import type { RefOp } from './ref_op.js';

export function convTranspose2dRef(
  x: ArrayLike<number>,
  xShape: readonly number[],
  w: ArrayLike<number>,
  wShape: readonly number[],
  attrs: RefConvAttrs & { outputPadding?: [number, number] } = {},
  bias?: ArrayLike<number>,
): RefTensor {
  const [n, cin, h, wd] = xShape;
  const [, cout, kh, kw] = wShape;
  const [sh, sw] = attrs.stride ?? [1, 1];
  const [ph, pw] = attrs.padding ?? [0, 0];
  const [dh, dw] = attrs.dilation ?? [1, 1];
  const [oph, opw] = attrs.outputPadding ?? [0, 0];
  const oh = (h - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1;
  const ow = (wd - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1;
  const out = new Float64Array(n * cout * oh * ow);
  for (let b = 0; b < n; b++)
    for (let co = 0; co < cout; co++) out.fill(bias ? bias[co] : 0, (b * cout + co) * oh * ow, (b * cout + co + 1) * oh * ow);
  for (let b = 0; b < n; b++)
    for (let ci = 0; ci < cin; ci++)
      for (let y = 0; y < h; y++)
        for (let xx = 0; xx < wd; xx++) {
          const v = x[((b * cin + ci) * h + y) * wd + xx];
          for (let co = 0; co < cout; co++)
            for (let i = 0; i < kh; i++)
              for (let j = 0; j < kw; j++) {
                const oy = y * sh - ph + i * dh;
                const ox = xx * sw - pw + j * dw;
                if (oy < 0 || oy >= oh || ox < 0 || ox >= ow) continue;
                out[((b * cout + co) * oh + oy) * ow + ox] += v * w[((ci * cout + co) * kh + i) * kw + j];
              }
        }
  return { data: out, shape: [n, cout, oh, ow] };
}

// conv_transpose2d(x, w) is the input gradient of the conv2d from its output (shaped like x) to y.
export const convTranspose2dOpRef: RefOp<'conv_transpose2d'> = ([x, w], { attrs, inputs: [xV, wV], outputs: [out] }) => {
  const r = new Float64Array(out.size);
  convVisit(out.shape, wV.shape, xV.shape, attrs, (xi, wi, yi) => (r[xi] += x[yi] * w[wi]));
  return [r];
};

/** dx of the transposed conv: the conv2d of dy with w. */
export const convTranspose2dBackwardDataRef: RefOp<'conv_transpose2d_backward_data'> = ([dy, w], { attrs, inputs: [dyV, wV], outputs: [out] }) => {
  const r = new Float64Array(out.size);
  convVisit(dyV.shape, wV.shape, attrs.inputShape, attrs, (xi, wi, yi) => (r[yi] += dy[xi] * w[wi]));
  return [r];
};

export const convTranspose2dBackwardFilterRef: RefOp<'conv_transpose2d_backward_filter'> = ([x, dy], { attrs, inputs: [xV, dyV], outputs: [out] }) => {
  const r = new Float64Array(out.size);
  convVisit(dyV.shape, attrs.weightShape, xV.shape, attrs, (xi, wi, yi) => (r[wi] += dy[xi] * x[yi]));
  return [r];
};
