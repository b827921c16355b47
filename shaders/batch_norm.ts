import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { flatIndexWGSL } from './lib/indexing.js';

/**
 * Batch normalisation over NCHW (a [N, C] input is N×C×1×1): statistics per channel c over the
 * M = N·H·W elements x[n, c, s] at (n·C + c)·HW + s.
 *
 * The train and backward kernels give each channel one workgroup, which strides over the channel's
 * elements and combines its lanes by a tree reduction in workgroup memory. Mean and variance take
 * two passes over x (variance of x − mean, not E[x²] − mean², which cancels catastrophically in f32).
 */

const PARAMS = /* wgsl */ `
struct Params {
  n: u32,
  c: u32,
  hw: u32,
  m: u32,
  eps: f32,
  momentum: f32,
  // momentum for the running variance: 0 when M = 1, where the unbiased variance is undefined.
  var_momentum: f32,
  // M / (M − 1): turns the biased batch variance into the unbiased one for running_var.
  unbias: f32,
}
`;

const CHANNEL_REDUCTION = /* wgsl */ `
override WG: u32 = 256;
var<workgroup> partial: array<vec2f, WG>;

fn element(c: u32, m: u32) -> u32 {
  let nn = m / params.hw;
  return (nn * params.c + c) * params.hw + (m - nn * params.hw);
}

// Sum of v over the workgroup's WG lanes (WG a power of two), returned to every lane.
fn workgroup_sum(lid: u32, v: vec2f) -> vec2f {
  partial[lid] = v;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
    if (lid < stride) {
      partial[lid] += partial[lid + stride];
    }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier();
  return total;
}
`;

/**
 * Train-mode forward: y = (x − mean)·invstd·gamma + beta with batch statistics; writes mean and
 * invstd = 1/√(var + eps) (biased var) for the backward pass, and optionally updates the running
 * statistics in place: running = (1 − momentum)·running + momentum·batch (unbiased var).
 * Bindings: x, [gamma, beta], [running_mean, running_var], y, mean, invstd.
 */
export function batchNormTrainShader(affine: boolean, trackRunning: boolean): string {
  return wgsl`
${PARAMS}
@group(0) @binding(0) var<storage, read> x: array<f32>;
#if ${affine}
@group(0) @binding(1) var<storage, read> gamma: array<f32>;
@group(0) @binding(2) var<storage, read> beta: array<f32>;
#endif
#if ${affine && trackRunning}
@group(0) @binding(3) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(4) var<storage, read_write> running_var: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
@group(0) @binding(6) var<storage, read_write> mean_out: array<f32>;
@group(0) @binding(7) var<storage, read_write> invstd_out: array<f32>;
@group(0) @binding(8) var<uniform> params: Params;
#elif ${affine}
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> mean_out: array<f32>;
@group(0) @binding(5) var<storage, read_write> invstd_out: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;
#elif ${trackRunning}
@group(0) @binding(1) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(2) var<storage, read_write> running_var: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> mean_out: array<f32>;
@group(0) @binding(5) var<storage, read_write> invstd_out: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;
#else
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> mean_out: array<f32>;
@group(0) @binding(3) var<storage, read_write> invstd_out: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
#endif
${CHANNEL_REDUCTION}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = wid.x + wid.y * nwg.x;
  if (c >= params.c) { return; }
  let inv_m = 1.0 / f32(params.m);

  var s = 0.0;
  for (var m = lid; m < params.m; m += WG) { s += x[element(c, m)]; }
  let mean = workgroup_sum(lid, vec2f(s, 0.0)).x * inv_m;

  var q = 0.0;
  for (var m = lid; m < params.m; m += WG) {
    let d = x[element(c, m)] - mean;
    q += d * d;
  }
  let variance = workgroup_sum(lid, vec2f(q, 0.0)).x * inv_m;
  let invstd = inverseSqrt(variance + params.eps);

#if ${affine}
  let scale = invstd * gamma[c];
  let shift = beta[c] - mean * scale;
#else
  let scale = invstd;
  let shift = -mean * scale;
#endif
  for (var m = lid; m < params.m; m += WG) {
    let i = element(c, m);
    y[i] = x[i] * scale + shift;
  }

  if (lid == 0u) {
    mean_out[c] = mean;
    invstd_out[c] = invstd;
#if ${trackRunning}
    running_mean[c] = (1.0 - params.momentum) * running_mean[c] + params.momentum * mean;
    running_var[c] = (1.0 - params.var_momentum) * running_var[c] + params.var_momentum * params.unbias * variance;
#endif
  }
}
`;
}

/**
 * Eval-mode forward, elementwise with the running statistics: y = (x − rm)/√(rv + eps)·gamma + beta.
 * Bindings: x, running_mean, running_var, [gamma, beta], y.
 */
export function batchNormEvalShader(affine: boolean): string {
  return wgsl`
${PARAMS}
${flatIndexWGSL}
override WG: u32 = 256;
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> running_mean: array<f32>;
@group(0) @binding(2) var<storage, read> running_var: array<f32>;
#if ${affine}
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> beta: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;
#else
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
#endif

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg, WG);
  if (i >= params.m * params.c) { return; }
  let c = (i / params.hw) % params.c;
  let invstd = inverseSqrt(running_var[c] + params.eps);
#if ${affine}
  y[i] = (x[i] - running_mean[c]) * invstd * gamma[c] + beta[c];
#else
  y[i] = (x[i] - running_mean[c]) * invstd;
#endif
}
`;
}

/**
 * Backward, one workgroup per channel. With x̂ = (x − mean)·invstd and dŷ = dy·gamma:
 *   dbeta = Σ dy,  dgamma = Σ dy·x̂,
 *   train: dx = invstd/M · (M·dŷ − Σ dŷ − x̂·Σ dŷ·x̂)   (mean and invstd depend on x),
 *   eval:  dx = dŷ·invstd                              (running statistics are constants).
 * In eval mode the mean/stat bindings hold running_mean and running_var, and invstd is formed here.
 * Bindings: dy, x, mean | running_mean, invstd | running_var, [gamma], dx, [dgamma, dbeta].
 */
export function batchNormBackwardShader(affine: boolean, training: boolean): string {
  return wgsl`
${PARAMS}
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mean_in: array<f32>;
@group(0) @binding(3) var<storage, read> stat_in: array<f32>;
#if ${affine}
@group(0) @binding(4) var<storage, read> gamma: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(7) var<storage, read_write> dbeta: array<f32>;
@group(0) @binding(8) var<uniform> params: Params;
#else
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;
#endif
${CHANNEL_REDUCTION}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = wid.x + wid.y * nwg.x;
  if (c >= params.c) { return; }
  let mean = mean_in[c];
#if ${training}
  let invstd = stat_in[c];
#else
  let invstd = inverseSqrt(stat_in[c] + params.eps);
#endif
#if ${affine}
  let g = gamma[c];
#else
  let g = 1.0;
#endif

#if ${training || affine}
  var acc = vec2f(0.0);
  for (var m = lid; m < params.m; m += WG) {
    let i = element(c, m);
    let d = dy[i];
    acc += vec2f(d, d * (x[i] - mean) * invstd);
  }
  // (Σ dy, Σ dy·x̂)
  let sums = workgroup_sum(lid, acc);
#endif

#if ${training}
  let inv_m = 1.0 / f32(params.m);
  let k = g * invstd;
  let mean_dy = sums.x * inv_m;
  let mean_dy_xhat = sums.y * inv_m;
  for (var m = lid; m < params.m; m += WG) {
    let i = element(c, m);
    let xhat = (x[i] - mean) * invstd;
    dx[i] = k * (dy[i] - mean_dy - xhat * mean_dy_xhat);
  }
#else
  let k = g * invstd;
  for (var m = lid; m < params.m; m += WG) {
    let i = element(c, m);
    dx[i] = k * dy[i];
  }
#endif

#if ${affine}
  if (lid == 0u) {
    dgamma[c] = sums.y;
    dbeta[c] = sums.x;
  }
#endif
}
`;
}
