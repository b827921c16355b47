import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { activationWGSL } from './lib/activations.js';
import { ConvGatherEmitter, type ConvGemmShaderOptions } from './conv2d.js';
import { convGemmBindingsWGSL, convGemmParamsWGSL } from './lib/conv_gemm_io.js';

/**
 * The implicit GEMM of shaders/conv2d.ts staged through workgroup memory, the classic GPU shape:
 * a workgroup of 8×8 invocations owns a tile of 32 output channels × 32 flat output positions and
 * walks the reduction (c, kh, kw) eight steps at a time. Each step every invocation gathers one
 * reduction row for 4 positions and one for 4 channels into workgroup memory (so each src value is
 * fetched once per tile instead of once per channel block), then all read 8 rows back as vec4s into
 * a 4×4 register block. The 8×8 / 32 / 8 numbers are tied together by the load mapping below.
 */
export const TILED_WORKGROUP = 8;
const STEP = 8;

export function convGemmTiledShader(o: ConvGemmShaderOptions): string {
  const g = new ConvGatherEmitter(o);
  const J = [0, 1, 2, 3];
  const [, KW] = o.kernel;
  const setup = J.map((j) => g.position(j, `tile_p + tx * 4 + ${j}`)).join('\n  ');
  const loadWeights = J.map((i) => `let wl${i} = min(tile_m + tx * 4 + ${i}, params.m - 1) * params.w_stride_out;`).join('\n  ');
  const gather = g.gather(J).join('\n    ');
  const wr = `c * params.w_stride_red + tap`;
  const multiply = [...Array(STEP).keys()]
    .map(
      (s) => `{
      let wv = ws[${s * TILED_WORKGROUP} + ty];
      let xv = xs[${s * TILED_WORKGROUP} + tx];
      ${J.map((j) => `acc${j} = fma(wv, vec4f(xv[${j}]), acc${j});`).join('\n      ')}
    }`,
    )
    .join('\n    ');
  const stores = J.map((j) => {
    const lanes = J.map((i) => {
      const m = `tile_m + ty * 4 + ${i}`;
      const value = o.bias ? `acc${j}[${i}] + bias[${m}]` : `acc${j}[${i}]`;
      return `if (${m} < params.m) { dst[u32(ob${j} + (${m}) * dhw)] = activate(${value}); }`;
    }).join('\n    ');
    return `if (tile_p + tx * 4 + ${j} < params.positions) {
    let ob${j} = n${j} * params.m * dhw + r${j};
    ${lanes}
  }`;
  }).join('\n  ');

  return wgsl`
${activationWGSL(o.activation)}
${convGemmParamsWGSL}
${convGemmBindingsWGSL(o.bias)}
override WG: u32 = ${TILED_WORKGROUP};

// Row s of the step holds 8 vec4s: weights of 32 channels, or src values at 32 positions.
var<workgroup> ws: array<vec4f, ${STEP * TILED_WORKGROUP}>;
var<workgroup> xs: array<vec4f, ${STEP * TILED_WORKGROUP}>;

@compute @workgroup_size(WG, WG)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let tx = i32(lid.x);
  let ty = i32(lid.y);
  let tile_p = i32(wid.x) * 32;
  let tile_m = i32(wid.y) * 32;
  let dhw = params.dst_h * params.dst_w;
  let shw = params.src_h * params.src_w;
  let taps = ${o.kernel[0] * KW};
  let depth = params.c * taps;
  // No early return: every invocation must reach the barriers. Tails are clamped, never stored.
  ${setup}
  ${loadWeights}
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  for (var k0 = 0; k0 < depth; k0 += ${STEP}) {
    // Invocation (tx, ty) loads reduction row k0 + ty: src at its own 4 positions, weights of channels tx*4..tx*4+3.
    let k = k0 + ty;
    let inside = k < depth;
    let kc = min(k, depth - 1);
    let c = kc / taps;
    let tap = kc % taps;
    let kh = tap / ${KW};
    let kw = tap % ${KW};
    ${gather}
    xs[ty * ${TILED_WORKGROUP} + tx] = select(vec4f(0.0), vec4f(v0, v1, v2, v3), inside);
    ws[ty * ${TILED_WORKGROUP} + tx] = select(vec4f(0.0), vec4f(weight[wl0 + ${wr}], weight[wl1 + ${wr}], weight[wl2 + ${wr}], weight[wl3 + ${wr}]), inside);
    workgroupBarrier();
    ${multiply}
    workgroupBarrier();
  }
  ${stores}
}
`;
}
