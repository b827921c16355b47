import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { flatIndexWGSL } from './lib/indexing.js';
import { isNanWGSL } from './lib/nan.js';

/** argmax of a window that covers no input element (possible only with dilation; rejected on the host). */
const NONE = 0xffffffff;

/**
 * 2-D max / average pooling over NCHW planes, forward and backward. Output (oy, ox) reads rows
 * oy*sh - ph + ky*dh and columns ox*sw - pw + kx*dw; padding never wins a max and adds zeros to an average.
 *
 * Backward kernels are gathers: one invocation per input element visits the outputs whose window
 * can contain it (oy = (y + ph - ky*dh) / sh when that divides exactly), so overlapping windows
 * (stride < kernel) sum without atomics and in a fixed order.
 *   max: dx[y][x] = sum of dy[o] over outputs o whose saved argmax is (y, x)
 *   avg: dx[y][x] = sum of dy[o] / divisor(o) over outputs o whose window contains (y, x)
 */
export function pool2dShader(kind: 'max' | 'avg', direction: 'forward' | 'backward', dilated: boolean): string {
  const backward = direction === 'backward';
  const max = kind === 'max';
  return wgsl`
${flatIndexWGSL}
${isNanWGSL}
override WG: u32 = 256;
const NONE: u32 = ${NONE}u;
struct Params {
  n: u32, h: u32, w: u32, oh: u32, ow: u32,
  kh: u32, kw: u32, sh: u32, sw: u32, ph: u32, pw: u32, dh: u32, dw: u32,
  include_pad: u32,
}
#if ${backward}
@group(0) @binding(0) var<storage, read> dy: array<f32>;
#if ${max}
@group(0) @binding(1) var<storage, read> argmax: array<u32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
#else
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
#endif
#else
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
#if ${max}
@group(0) @binding(2) var<storage, read_write> argmax: array<u32>;
@group(0) @binding(3) var<uniform> params: Params;
#else
@group(0) @binding(2) var<uniform> params: Params;
#endif
#endif

// First input row / column of output (oy, ox)'s window, in padded coordinates shifted back.
fn window_start(o: u32, stride: u32, pad: u32) -> i32 {
  return i32(o * stride) - i32(pad);
}

#if ${!max}
// PyTorch's divisor: the window clipped to the padded input (include_pad), or to the input itself.
fn divisor(oy: u32, ox: u32) -> f32 {
  let y0 = window_start(oy, params.sh, params.ph);
  let x0 = window_start(ox, params.sw, params.pw);
  let y1 = y0 + i32(params.kh);
  let x1 = x0 + i32(params.kw);
  if (params.include_pad != 0u) {
    return f32((min(y1, i32(params.h + params.ph)) - y0) * (min(x1, i32(params.w + params.pw)) - x0));
  }
  return f32((min(y1, i32(params.h)) - max(y0, 0)) * (min(x1, i32(params.w)) - max(x0, 0)));
}
#endif

#if ${backward}
// Smallest o with t - o*s < k, i.e. ceil((t - k + 1) / s) clamped at 0.
fn first_output(t: u32, k: u32, s: u32) -> u32 {
  return select(0u, (t - k + s) / s, t + 1u > k);
}

// What output o (at oy, ox) passes back to the input element at plane index here.
fn contribution(o: u32, oy: u32, ox: u32, here: u32) -> f32 {
#if ${max}
  return select(0.0, dy[o], argmax[o] == here);
#else
  return dy[o] / divisor(oy, ox);
#endif
}
#endif

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg, WG);
  if (i >= params.n) { return; }
#if ${backward}
  let px = i % params.w;
  let py = (i / params.w) % params.h;
  let plane = i / (params.w * params.h);
  let here = py * params.w + px;
  let out_base = plane * params.oh * params.ow;
  var acc = 0.0;
#if ${dilated}
  // Dilated taps skip positions, so test each tap (ky, kx) for an output that lands on (py, px).
  for (var ky = 0u; ky < params.kh; ky++) {
    let ty = i32(py + params.ph) - i32(ky * params.dh);
    if (ty < 0 || u32(ty) % params.sh != 0u) { continue; }
    let oy = u32(ty) / params.sh;
    if (oy >= params.oh) { continue; }
    for (var kx = 0u; kx < params.kw; kx++) {
      let tx = i32(px + params.pw) - i32(kx * params.dw);
      if (tx < 0 || u32(tx) % params.sw != 0u) { continue; }
      let ox = u32(tx) / params.sw;
      if (ox >= params.ow) { continue; }
      acc += contribution(out_base + oy * params.ow + ox, oy, ox, here);
    }
  }
#else
  // Contiguous windows: the outputs covering row py are exactly those with
  // 0 <= py + ph - oy*sh < kh, a range, so only they are visited (one per axis when stride = kernel).
  let y_end = min(params.oh, (py + params.ph) / params.sh + 1u);
  let x_end = min(params.ow, (px + params.pw) / params.sw + 1u);
  for (var oy = first_output(py + params.ph, params.kh, params.sh); oy < y_end; oy++) {
    for (var ox = first_output(px + params.pw, params.kw, params.sw); ox < x_end; ox++) {
      acc += contribution(out_base + oy * params.ow + ox, oy, ox, here);
    }
  }
#endif
  dx[i] = acc;
#else
  let ox = i % params.ow;
  let oy = (i / params.ow) % params.oh;
  let plane = i / (params.ow * params.oh);
  let in_base = plane * params.h * params.w;
  let y0 = window_start(oy, params.sh, params.ph);
  let x0 = window_start(ox, params.sw, params.pw);
#if ${max}
  var best = 0.0;
  var arg = NONE;
#else
  var acc = 0.0;
#endif
  for (var ky = 0u; ky < params.kh; ky++) {
    let iy = y0 + i32(ky * params.dh);
    if (iy < 0 || iy >= i32(params.h)) { continue; }
    for (var kx = 0u; kx < params.kw; kx++) {
      let ix = x0 + i32(kx * params.dw);
      if (ix < 0 || ix >= i32(params.w)) { continue; }
      let at = u32(iy) * params.w + u32(ix);
      let v = x[in_base + at];
#if ${max}
      // Strict '>' keeps the first maximum in scan order, as PyTorch does; a NaN wins over any
      // number and a later NaN over an earlier one (PyTorch's rule: val > max || isnan(val)), so the
      // output is NaN and backward routes the gradient to the NaN's position.
      if (arg == NONE || is_nan(v) || (v > best && !is_nan(best))) {
        best = v;
        arg = at;
      }
#else
      acc += v;
#endif
    }
  }
#if ${max}
  y[i] = best;
  argmax[i] = arg;
#else
  y[i] = acc / divisor(oy, ox);
#endif
#endif
}
`;
}
