import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { activationWGSL, type Activation } from './lib/activations.js';
import { flatIndexWGSL } from './lib/indexing.js';

/**
 * Grouped convolution (torch.nn.Conv2d's `groups`; depthwise when groups = channels), NCHW, weight
 * [Cout, Cin/groups, KH, KW]: output channel co reads only the Cin/groups input channels of its
 * group co / (Cout/groups). The implicit-GEMM kernels share each input value across many output
 * channels, which groups take away (a depthwise channel has one), so these kernels give each
 * invocation one element of the result and sum its taps directly, in a fixed order.
 */
const PARAMS = /* wgsl */ `
struct Params {
  n: i32, cin: i32, h: i32, w: i32,
  cout: i32, oh: i32, ow: i32, groups: i32,
  stride_h: i32, stride_w: i32, pad_h: i32, pad_w: i32, dil_h: i32, dil_w: i32,
}
fn in_group() -> i32 { return params.cin / params.groups; }
fn out_group() -> i32 { return params.cout / params.groups; }
fn x_at(b: i32, c: i32, y: i32, x: i32) -> i32 { return ((b * params.cin + c) * params.h + y) * params.w + x; }
fn y_at(b: i32, c: i32, y: i32, x: i32) -> i32 { return ((b * params.cout + c) * params.oh + y) * params.ow + x; }
fn w_at(co: i32, cl: i32, i: i32, j: i32) -> i32 { return ((co * in_group() + cl) * KH + i) * KW + j; }
// Bounds tests as u32(v) < u32(size) (a negative v wraps past it) combined with & keep the tap loops
// branch-free, and KH, KW as pipeline constants let the compiler unroll them.
fn inside(v: i32, size: i32) -> bool { return u32(v) < u32(size); }
`;
const OVERRIDES = /* wgsl */ `
override WG: u32 = 64;
override KH: i32 = 3;
override KW: i32 = 3;`;

/** y[b, co, oy, ox] = act(Σ_{cl, i, j} x[b, group·Cin/g + cl, oy·s − p + i·d, …] · w[co, cl, i, j] + bias[co]). */
export function conv2dGroupedShader(bias: boolean, activation: Activation): string {
  return wgsl`
${OVERRIDES}
${PARAMS}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
#if ${bias}
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
#else
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
#endif
${flatIndexWGSL}
${activationWGSL(activation)}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = i32(flat_index(gid, nwg, WG));
  if (e >= params.n * params.cout * params.oh * params.ow) { return; }
  let ox = e % params.ow;
  let oy = (e / params.ow) % params.oh;
  let co = (e / (params.ow * params.oh)) % params.cout;
  let b = e / (params.ow * params.oh * params.cout);
  let c0 = (co / out_group()) * in_group();
  var acc = 0.0;
  for (var cl = 0; cl < in_group(); cl++) {
    for (var i = 0; i < KH; i++) {
      let iy = oy * params.stride_h - params.pad_h + i * params.dil_h;
      for (var j = 0; j < KW; j++) {
        let ix = ox * params.stride_w - params.pad_w + j * params.dil_w;
        let ok = inside(iy, params.h) & inside(ix, params.w);
        acc += select(0.0, x[select(0, x_at(b, c0 + cl, iy, ix), ok)], ok) * weight[w_at(co, cl, i, j)];
      }
    }
  }
#if ${bias}
  acc += bias[co];
#endif
  y[e] = activate(acc);
}
`;
}

/** dx[b, ci, iy, ix] = Σ over the output channels of ci's group and the taps that reach (iy, ix) of dy · w. */
export function conv2dGroupedBackwardDataShader(): string {
  return /* wgsl */ `
${OVERRIDES}
${PARAMS}
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
${flatIndexWGSL}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = i32(flat_index(gid, nwg, WG));
  if (e >= params.n * params.cin * params.h * params.w) { return; }
  let ix = e % params.w;
  let iy = (e / params.w) % params.h;
  let ci = (e / (params.w * params.h)) % params.cin;
  let b = e / (params.w * params.h * params.cin);
  let grp = ci / in_group();
  let cl = ci % in_group();
  var acc = 0.0;
  for (var co = grp * out_group(); co < (grp + 1) * out_group(); co++) {
    for (var i = 0; i < KH; i++) {
      // iy = oy·stride − pad + i·dil, so oy = (iy + pad − i·dil) / stride where that is exact
      // (a negative t never is: t = oy·stride with oy >= 0).
      let ty = iy + params.pad_h - i * params.dil_h;
      let oy = ty / params.stride_h;
      let ry = (oy * params.stride_h == ty) & inside(oy, params.oh);
      for (var j = 0; j < KW; j++) {
        let tx = ix + params.pad_w - j * params.dil_w;
        let ox = tx / params.stride_w;
        let ok = ry & (ox * params.stride_w == tx) & inside(ox, params.ow);
        acc += select(0.0, dy[select(0, y_at(b, co, oy, ox), ok)], ok) * weight[w_at(co, cl, i, j)];
      }
    }
  }
  dx[e] = acc;
}
`;
}

/**
 * dw[co, cl, i, j] = Σ_{b, oy, ox} x[b, group·Cin/g + cl, oy·s − p + i·d, …] · dy[b, co, oy, ox]: one
 * invocation per weight element, summing in a fixed order (deterministic, no atomics). Each sums
 * N·OH·OW products, so the cost falls on few invocations when the weight is small (depthwise).
 */
export function conv2dGroupedBackwardFilterShader(): string {
  return /* wgsl */ `
${OVERRIDES}
${PARAMS}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dw: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
${flatIndexWGSL}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = i32(flat_index(gid, nwg, WG));
  if (e >= params.cout * in_group() * KH * KW) { return; }
  let j = e % KW;
  let i = (e / KW) % KH;
  let cl = (e / (KW * KH)) % in_group();
  let co = e / (KW * KH * in_group());
  let ci = (co / out_group()) * in_group() + cl;
  var acc = 0.0;
  for (var b = 0; b < params.n; b++) {
    for (var oy = 0; oy < params.oh; oy++) {
      let iy = oy * params.stride_h - params.pad_h + i * params.dil_h;
      if (!inside(iy, params.h)) { continue; }
      for (var ox = 0; ox < params.ow; ox++) {
        let ix = ox * params.stride_w - params.pad_w + j * params.dil_w;
        let ok = inside(ix, params.w);
        acc += select(0.0, x[select(0, x_at(b, ci, iy, ix), ok)], ok) * dy[y_at(b, co, oy, ox)];
      }
    }
  }
  dw[e] = acc;
}
`;
}
