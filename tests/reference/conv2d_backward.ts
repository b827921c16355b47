/**
 * Float64 gradients of conv2d (PyTorch's Conv2d, NCHW, weight [Cout, Cin, KH, KW]) written from the
 * forward sum y[n, co, oy, ox] = Σ x[n, ci, oy·s - p + kh·d, ox·s - p + kw·d] · w[co, ci, kh, kw]:
 * every term sends dy·w to dx at the input pixel it read and dy·x to dw at its tap.
 */
import type { RefConvAttrs } from './conv2d.js';

interface Geometry {
  n: number;
  cin: number;
  h: number;
  wd: number;
  cout: number;
  kh: number;
  kw: number;
  oh: number;
  ow: number;
}

function geometry(xShape: readonly number[], wShape: readonly number[], a: RefConvAttrs): Geometry {
  const [n, cin, h, wd] = xShape;
  const [cout, , kh, kw] = wShape;
  const [sh, sw] = a.stride ?? [1, 1];
  const [ph, pw] = a.padding ?? [0, 0];
  const [dh, dw] = a.dilation ?? [1, 1];
  const oh = Math.floor((h + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((wd + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  return { n, cin, h, wd, cout, kh, kw, oh, ow };
}

/** Calls `term(xIndex, wIndex, dyIndex)` for every product of the forward sum that reads inside x. */
function forEachTerm(xShape: readonly number[], wShape: readonly number[], a: RefConvAttrs, term: (xi: number, wi: number, yi: number) => void): void {
  const g = geometry(xShape, wShape, a);
  const [sh, sw] = a.stride ?? [1, 1];
  const [ph, pw] = a.padding ?? [0, 0];
  const [dh, dw] = a.dilation ?? [1, 1];
  for (let b = 0; b < g.n; b++)
    for (let co = 0; co < g.cout; co++)
      for (let oy = 0; oy < g.oh; oy++)
        for (let ox = 0; ox < g.ow; ox++)
          for (let ci = 0; ci < g.cin; ci++)
            for (let i = 0; i < g.kh; i++)
              for (let j = 0; j < g.kw; j++) {
                const y = oy * sh - ph + i * dh;
                const x = ox * sw - pw + j * dw;
                if (y < 0 || y >= g.h || x < 0 || x >= g.wd) continue;
                term(((b * g.cin + ci) * g.h + y) * g.wd + x, ((co * g.cin + ci) * g.kh + i) * g.kw + j, ((b * g.cout + co) * g.oh + oy) * g.ow + ox);
              }
}

/** dx for the output gradient dy (shape [N, Cout, OH, OW]). */
export function conv2dBackwardDataRef(dy: ArrayLike<number>, xShape: readonly number[], w: ArrayLike<number>, wShape: readonly number[], a: RefConvAttrs = {}): Float64Array {
  const dx = new Float64Array(xShape.reduce((p, d) => p * d, 1));
  forEachTerm(xShape, wShape, a, (xi, wi, yi) => {
    dx[xi] += dy[yi] * w[wi];
  });
  return dx;
}

/** dw for the output gradient dy. */
export function conv2dBackwardFilterRef(x: ArrayLike<number>, xShape: readonly number[], dy: ArrayLike<number>, wShape: readonly number[], a: RefConvAttrs = {}): Float64Array {
  const dw = new Float64Array(wShape.reduce((p, d) => p * d, 1));
  forEachTerm(xShape, wShape, a, (xi, wi, yi) => {
    dw[wi] += dy[yi] * x[xi];
  });
  return dw;
}

/** The output shape [N, Cout, OH, OW]. */
export function conv2dOutputShapeRef(xShape: readonly number[], wShape: readonly number[], a: RefConvAttrs = {}): number[] {
  const g = geometry(xShape, wShape, a);
  return [g.n, g.cout, g.oh, g.ow];
}
