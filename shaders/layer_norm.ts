import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { flatIndexWGSL } from './lib/indexing.js';
import { rowIndexWGSL, rowReduceWGSL } from './lib/reduce.js';

const PARAMS = /* wgsl */ `struct Params { rows: u32, cols: u32, eps: f32 }`;

/**
 * Layer normalisation of x viewed as [rows, cols] over its last axis, as torch.nn.LayerNorm:
 *   mean = Σ x / D,  rstd = 1 / √(Σ (x − mean)² / D + eps),  y = (x − mean)·rstd·γ + β.
 * The variance takes a second pass over the row around the mean (not E[x²] − mean²), which would
 * cancel catastrophically for rows far from zero. mean and rstd are saved for the backward.
 * Cooperative: a workgroup per row with fixed-order tree sums; otherwise one invocation per row.
 */
export function layerNormShader(cooperative: boolean): string {
  return wgsl`
override WG: u32 = 64;
${PARAMS}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> gamma: array<f32>;
@group(0) @binding(2) var<storage, read> beta: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> mean_out: array<f32>;
@group(0) @binding(5) var<storage, read_write> rstd_out: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;
${rowReduceWGSL(cooperative)}
${rowIndexWGSL(cooperative)}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32,
        @builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = row_of(wid, gid, nwg);
  if (row >= params.rows) { return; }
  let lane = lane_of(lid);
  let base = row * params.cols;
  let n = f32(params.cols);
  var s = 0.0;
  for (var j = lane; j < params.cols; j += row_lanes()) {
    s += x[base + j];
  }
  let mean = row_sum(s, lane) / n;
  var q = 0.0;
  for (var j = lane; j < params.cols; j += row_lanes()) {
    let c = x[base + j] - mean;
    q += c * c;
  }
  let rstd = 1.0 / sqrt(row_sum(q, lane) / n + params.eps);
  for (var j = lane; j < params.cols; j += row_lanes()) {
    y[base + j] = (x[base + j] - mean) * rstd * gamma[j] + beta[j];
  }
  if (lane == 0u) {
    mean_out[row] = mean;
    rstd_out[row] = rstd;
  }
}
`;
}

/**
 * dx of layer_norm, one row at a time. With x̂ = (x − mean)·rstd and g = dy ⊙ γ, since mean and
 * rstd depend on every x of the row:
 *   dx = rstd · (g − Σg / D − x̂ · Σ(g ⊙ x̂) / D).
 */
export function layerNormBackwardDataShader(cooperative: boolean): string {
  return wgsl`
override WG: u32 = 64;
${PARAMS}
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> rstd: array<f32>;
@group(0) @binding(4) var<storage, read> gamma: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;
${rowReduceWGSL(cooperative)}
${rowIndexWGSL(cooperative)}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32,
        @builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = row_of(wid, gid, nwg);
  if (row >= params.rows) { return; }
  let lane = lane_of(lid);
  let base = row * params.cols;
  let m = mean[row];
  let r = rstd[row];
  var sg = 0.0;
  var sgx = 0.0;
  for (var j = lane; j < params.cols; j += row_lanes()) {
    let g = dy[base + j] * gamma[j];
    sg += g;
    sgx += g * (x[base + j] - m) * r;
  }
  let n = f32(params.cols);
  let a = row_sum(sg, lane) / n;
  let b = row_sum(sgx, lane) / n;
  for (var j = lane; j < params.cols; j += row_lanes()) {
    let g = dy[base + j] * gamma[j];
    dx[base + j] = r * (g - a - (x[base + j] - m) * r * b);
  }
}
`;
}

/**
 * dγ = Σ_rows dy ⊙ x̂ and dβ = Σ_rows dy, deterministic without float atomics, in two passes so that
 * more than `cols` invocations share the rows: 'partial' gives one invocation to each (chunk of
 * CHUNK rows, column) and sums its rows in order into partial[chunk][col] (dγ, then dβ after
 * chunks·cols values); 'total' gives one invocation to each column and sums its chunks in order.
 */
export function layerNormBackwardParamsShader(pass: 'partial' | 'total'): string {
  const partial = pass === 'partial';
  return wgsl`
override WG: u32 = 64;
override CHUNK: u32 = 32;
${PARAMS}
#if ${partial}
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> rstd: array<f32>;
@group(0) @binding(4) var<storage, read_write> part: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;
#else
@group(0) @binding(0) var<storage, read> part: array<f32>;
@group(0) @binding(1) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(2) var<storage, read_write> dbeta: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
#endif
${flatIndexWGSL}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let chunks = (params.rows + CHUNK - 1u) / CHUNK;
  let e = flat_index(gid, nwg, WG);
#if ${partial}
  if (e >= chunks * params.cols) { return; }
  let j = e % params.cols;
  let row0 = (e / params.cols) * CHUNK;
  var sg = 0.0;
  var sb = 0.0;
  for (var row = row0; row < min(row0 + CHUNK, params.rows); row++) {
    let d = dy[row * params.cols + j];
    sg += d * (x[row * params.cols + j] - mean[row]) * rstd[row];
    sb += d;
  }
  part[e] = sg;
  part[chunks * params.cols + e] = sb;
#else
  if (e >= params.cols) { return; }
  var sg = 0.0;
  var sb = 0.0;
  for (var c = 0u; c < chunks; c++) {
    sg += part[c * params.cols + e];
    sb += part[(chunks + c) * params.cols + e];
  }
  dgamma[e] = sg;
  dbeta[e] = sb;
#endif
}
`;
}
