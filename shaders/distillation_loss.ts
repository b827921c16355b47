import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { rowIndexWGSL, rowReduceWGSL } from './lib/reduce.js';

/**
 * Uniforms and bindings shared by both kernels. `loss` is the per-row KL in the row kernel and the
 * mean loss [1] in the batch kernel.
 */
const HEADER = /* wgsl */ `
override WG: u32 = 64;
struct Params { rows: u32, cols: u32, inv_temperature: f32, grad_scale: f32, loss_scale: f32 }
@group(0) @binding(0) var<storage, read> student: array<f32>;
@group(0) @binding(1) var<storage, read> teacher: array<f32>;
@group(0) @binding(2) var<storage, read_write> loss: array<f32>;
@group(0) @binding(3) var<storage, read_write> dstudent: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
`;

/**
 * `distill_row(base, lane, lanes)`: for the row at `base`, with a = s/T, b = t/T, q = softmax(a),
 * p = softmax(b), returns KL(p ‖ q) = Σ p (log p − log q) and writes
 *   dstudent[j] = grad_scale · (q_j − p_j)        (d KL / d a_j = q_j − p_j; grad_scale = T/B)
 * Both log-softmaxes are formed as (x − max) − log Σ exp(x − max), so logits of any magnitude stay
 * finite, and log p is never log(0): a p that underflows to 0 multiplies a finite difference, so
 * its term is exactly 0 as the definition asks. `lane`/`lanes` split the row across a workgroup.
 */
const ROW_BODY = /* wgsl */ `
fn distill_row(base: u32, lane: u32, lanes: u32) -> f32 {
  let inv_t = params.inv_temperature;
  var ms = student[base] * inv_t;
  var mt = teacher[base] * inv_t;
  for (var j = lane; j < params.cols; j += lanes) {
    ms = max(ms, student[base + j] * inv_t);
    mt = max(mt, teacher[base + j] * inv_t);
  }
  ms = row_max(ms, lane);
  mt = row_max(mt, lane);
  var zs = 0.0;
  var zt = 0.0;
  for (var j = lane; j < params.cols; j += lanes) {
    zs += exp(student[base + j] * inv_t - ms);
    zt += exp(teacher[base + j] * inv_t - mt);
  }
  let log_zs = log(row_sum(zs, lane));
  let log_zt = log(row_sum(zt, lane));
  var kl = 0.0;
  for (var j = lane; j < params.cols; j += lanes) {
    let log_q = (student[base + j] * inv_t - ms) - log_zs;
    let log_p = (teacher[base + j] * inv_t - mt) - log_zt;
    let p = exp(log_p);
    kl += p * (log_p - log_q);
    dstudent[base + j] = params.grad_scale * (exp(log_q) - p);
  }
  return row_sum(kl, lane);
}
`;

/**
 * Distillation loss of student logits s [rows, cols] against teacher logits t, one row per
 * invocation or (cooperative) per workgroup: writes each row's KL(softmax(t/T) ‖ softmax(s/T)) to
 * `loss[row]` and its gradient to `dstudent`; a separate deterministic sum makes the mean.
 */
export function distillationLossShader(cooperative: boolean): string {
  return wgsl`
${HEADER}
${rowReduceWGSL(cooperative)}
${rowIndexWGSL(cooperative)}
${ROW_BODY}
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32,
        @builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = row_of(wid, gid, nwg);
  if (row >= params.rows) { return; }
  let lane = lane_of(lid);
  let kl = distill_row(row * params.cols, lane, row_lanes());
  if (lane == 0u) { loss[row] = kl; }
}
`;
}

/**
 * The whole batch in one workgroup (small batches): each lane takes rows lane, lane + WG, …, writes
 * their gradients and keeps a running sum of their KL; a fixed-order tree then writes
 * loss[0] = loss_scale · Σ KL (loss_scale = T²/B). The mean loss and dS come from this one launch.
 */
export function distillationLossBatchShader(): string {
  return /* wgsl */ `
${HEADER}
${rowReduceWGSL(false)}
${ROW_BODY}
var<workgroup> loss_part: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lane: u32) {
  var total = 0.0;
  for (var row = lane; row < params.rows; row += WG) {
    total += distill_row(row * params.cols, 0u, 1u);
  }
  loss_part[lane] = total;
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (lane < stride) { loss_part[lane] += loss_part[lane + stride]; }
  }
  if (lane == 0u) { loss[0] = loss_part[0] * params.loss_scale; }
}
`;
}
