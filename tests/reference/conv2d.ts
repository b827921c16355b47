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
