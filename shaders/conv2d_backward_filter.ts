import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { flatIndexWGSL } from './lib/indexing.js';

/**
 * Weight gradient of a convolution, as a GEMM whose reduction runs over batch × output positions:
 *
 *   dW[m, c, kh, kw] = sum over (n, oy, ox) of grad[n, m, oy, ox] * src[n, c, oy*stride - pad + kh*dil, ...]
 *
 * For conv2d, grad = dY and src = X; for conv_transpose2d, grad = X and src = dY (its output), with
 * the same forward gather. That reduction is long (N·OH·OW) while the output is small, so it is
 * split: the invocations of z-slice z sum the rows [z*rows_per_split, (z+1)*rows_per_split) of the
 * (n, oy) range into their own slices of `partial`, and a second launch adds the slices (split-K).
 * Each invocation owns `4*groups` rows m × 4 flattened columns (c, kh, kw) in named vec4
 * accumulators (lanes = m).
 */
export interface ConvFilterShaderOptions {
  kernel: [number, number];
  /** Some src coordinates fall outside src (padding). */
  checked: boolean;
}

export const convFilterParamsWGSL = /* wgsl */ `
struct Params {
  batch: i32, m: i32, c: i32, rows: i32,
  src_h: i32, src_w: i32, grad_h: i32, grad_w: i32,
  stride_h: i32, stride_w: i32, pad_h: i32, pad_w: i32,
  dil_h: i32, dil_w: i32, cols: i32, rows_per_split: i32,
}
`;

export function convFilterPartialShader(o: ConvFilterShaderOptions, groups: number): string {
  const J = [0, 1, 2, 3];
  const G = [...Array(groups).keys()];
  const [KH, KW] = o.kernel;
  const columns = J.map(
    (j) => `let column${j} = min(col0 + ${j}, params.cols - 1);
  let tap${j} = column${j} % ${KH * KW};
  let sc${j} = (column${j} / ${KH * KW}) * shw;
  let ky${j} = (tap${j} / ${KW}) * params.dil_h - params.pad_h;
  let kx${j} = (tap${j} % ${KW}) * params.dil_w - params.pad_w;`,
  ).join('\n  ');
  const gradRows = G.flatMap((gi) => J.map((i) => `let gm${gi}_${i} = min(m0 + ${gi * 4 + i}, params.m - 1) * ghw;`)).join('\n  ');
  const accumulators = G.flatMap((gi) => J.map((j) => `var acc${gi}_${j} = vec4f(0.0);`)).join('\n  ');
  const rowStage = J.map((j) => {
    const y = `let y${j} = oy * params.stride_h + ky${j}; let row${j} = sn + sc${j} + y${j} * params.src_w;`;
    return o.checked ? `${y} let ry${j} = u32(y${j}) < u32(params.src_h);` : y;
  }).join('\n    ');
  const values = J.map((j) => {
    const x = `let x${j} = ox * params.stride_w + kx${j};`;
    if (!o.checked) return `${x} let v${j} = src[u32(row${j} + x${j})];`;
    return `${x} let ok${j} = ry${j} & (u32(x${j}) < u32(params.src_w)); let v${j} = select(0.0, src[u32(select(0, row${j} + x${j}, ok${j}))], ok${j});`;
  }).join('\n      ');
  const grads = G.map((gi) => `let g${gi} = vec4f(${J.map((i) => `grad[gn + gm${gi}_${i}]`).join(', ')});`).join('\n      ');
  const fmas = G.flatMap((gi) => J.map((j) => `acc${gi}_${j} = fma(g${gi}, vec4f(v${j}), acc${gi}_${j});`)).join('\n      ');
  const stores = G.flatMap((gi) =>
    J.map((i) => {
      const m = `m0 + ${gi * 4 + i}`;
      const lanes = J.map((j) => `if (col0 + ${j} < params.cols) { partial[base + ${j}] = acc${gi}_${j}[${i}]; }`).join(' ');
      return `if (${m} < params.m) { let base = u32((slice * params.m + ${m}) * params.cols + col0); ${lanes} }`;
    }),
  ).join('\n  ');

  return wgsl`
${convFilterParamsWGSL}
@group(0) @binding(0) var<storage, read> grad: array<f32>;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> partial: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
// PHASES invocations of a workgroup row share one block of dW and take every PHASES-th output
// column ox each, so their loads of grad and src hit consecutive addresses (one vector access on
// SwiftShader's SIMD lanes, coalesced on GPUs); each keeps its own partial slice.
override PHASES: u32 = 4;
override WG_Y: u32 = 16;

@compute @workgroup_size(PHASES, WG_Y)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let phase = i32(lid.x);
  let m0 = i32(wid.x) * ${groups * 4};
  let col0 = i32(gid.y) * 4;
  let split = i32(gid.z);
  let slice = split * i32(PHASES) + phase;
  if (col0 >= params.cols || m0 >= params.m) { return; }
  let ghw = params.grad_h * params.grad_w;
  let shw = params.src_h * params.src_w;
  ${columns}
  ${gradRows}
  ${accumulators}
  let first = split * params.rows_per_split;
  let last = min(first + params.rows_per_split, params.rows);
  for (var r = first; r < last; r++) {
    let n = r / params.grad_h;
    let oy = r % params.grad_h;
    let gn0 = n * params.m * ghw + oy * params.grad_w;
    let sn = n * params.c * shw;
    ${rowStage}
    for (var ox = phase; ox < params.grad_w; ox += i32(PHASES)) {
      let gn = gn0 + ox;
      ${values}
      ${grads}
      ${fmas}
    }
  }
  ${stores}
}
`;
}

/** out[e] = sum over s of partial[s * count + e]: the second launch of split-K. */
export function splitSumShader(): string {
  return wgsl`
${flatIndexWGSL}
struct Params { count: u32, splits: u32 }
@group(0) @binding(0) var<storage, read> partial: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = flat_index(gid, nwg, WG);
  if (e >= params.count) { return; }
  var sum = 0.0;
  for (var s = 0u; s < params.splits; s++) { sum += partial[s * params.count + e]; }
  out[e] = sum;
}
`;
}

/**
 * Bias gradient db[m] = sum over (n, y, x) of grad[n, m, y, x]: one workgroup per channel, each
 * invocation striding over the channel's planes, then a tree sum in workgroup memory.
 */
export function biasGradShader(): string {
  return wgsl`
struct Params { batch: u32, channels: u32, plane: u32 }
@group(0) @binding(0) var<storage, read> grad: array<f32>;
@group(0) @binding(1) var<storage, read_write> db: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
override WG: u32 = 64;
var<workgroup> sums: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let m = wid.x;
  var sum = 0.0;
  for (var n = 0u; n < params.batch; n++) {
    let base = (n * params.channels + m) * params.plane;
    for (var i = lid; i < params.plane; i += WG) { sum += grad[base + i]; }
  }
  sums[lid] = sum;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half /= 2u) {
    if (lid < half) { sums[lid] += sums[lid + half]; }
    workgroupBarrier();
  }
  if (lid == 0u) { db[m] = sums[0]; }
}
`;
}
