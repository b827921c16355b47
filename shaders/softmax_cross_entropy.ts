import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { rowIndexWGSL, rowReduceWGSL } from './lib/reduce.js';

/**
 * Softmax cross-entropy of logits [rows, cols] against integer labels, forward and backward in one
 * pass over each row:
 *   row_loss[r]    = log sum_j exp(z_j - m) - (z_label - m)            (m = row max, for stability)
 *   dlogits[r][j]  = grad_scale * (softmax(z)_j - [j == label])        (d loss / d z_j)
 *   row_correct[r] = 1 when the first index of the row max is the label, else 0
 * A label >= cols marks a row to ignore: zero loss, zero gradient, not correct.
 * Cooperative: a workgroup per row (many classes); otherwise one invocation per row.
 */
export function softmaxCrossEntropyShader(cooperative: boolean): string {
  return wgsl`
override WG: u32 = 64;
struct Params { rows: u32, cols: u32, grad_scale: f32 }
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<u32>;
@group(0) @binding(2) var<storage, read_write> row_loss: array<f32>;
@group(0) @binding(3) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(4) var<storage, read_write> row_correct: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;
${rowReduceWGSL(cooperative)}
${rowIndexWGSL(cooperative)}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32,
        @builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = row_of(wid, gid, nwg);
  if (row >= params.rows) { return; }
  let lane = lane_of(lid);
  let base = row * params.cols;
  let label = labels[row];
  let valid = label < params.cols;
  var m = logits[base];
  for (var j = lane; j < params.cols; j += row_lanes()) {
    m = max(m, logits[base + j]);
  }
  m = row_max(m, lane);
  var s = 0.0;
  // Counts row maxima before the label: the prediction is the first maximum (argmax's tie rule).
  var earlier = 0.0;
  for (var j = lane; j < params.cols; j += row_lanes()) {
    let z = logits[base + j];
    s += exp(z - m);
    earlier += select(0.0, 1.0, z == m && j < label);
  }
  s = row_sum(s, lane);
  earlier = row_sum(earlier, lane);
  let inv = 1.0 / s;
  let scale = select(0.0, params.grad_scale, valid);
  for (var j = lane; j < params.cols; j += row_lanes()) {
    let p = exp(logits[base + j] - m) * inv;
    dlogits[base + j] = (p - select(0.0, 1.0, j == label)) * scale;
  }
  if (lane == 0u) {
    let picked = logits[base + min(label, params.cols - 1u)];
    row_loss[row] = select(0.0, log(s) - (picked - m), valid);
    row_correct[row] = select(0.0, 1.0, valid && picked == m && earlier == 0.0);
  }
}
`;
}

/**
 * The whole batch in one workgroup (small batches): each lane takes rows lane, lane + WG, …, writes
 * their gradients, and keeps running sums of loss and hits; a fixed-order tree then writes the mean
 * loss and the hit count. One launch instead of three, and as deterministic as the separate sums.
 */
export function softmaxCrossEntropyBatchShader(): string {
  return /* wgsl */ `
override WG: u32 = 64;
struct Params { rows: u32, cols: u32, grad_scale: f32 }
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<u32>;
@group(0) @binding(2) var<storage, read_write> loss: array<f32>;
@group(0) @binding(3) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(4) var<storage, read_write> correct: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;
var<workgroup> loss_part: array<f32, WG>;
var<workgroup> hit_part: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lane: u32) {
  var loss_sum = 0.0;
  var hits = 0.0;
  for (var row = lane; row < params.rows; row += WG) {
    let base = row * params.cols;
    let label = labels[row];
    let valid = label < params.cols;
    var m = logits[base];
    for (var j = 1u; j < params.cols; j++) { m = max(m, logits[base + j]); }
    var s = 0.0;
    var earlier = 0.0;
    for (var j = 0u; j < params.cols; j++) {
      let z = logits[base + j];
      s += exp(z - m);
      earlier += select(0.0, 1.0, z == m && j < label);
    }
    let inv = 1.0 / s;
    let scale = select(0.0, params.grad_scale, valid);
    for (var j = 0u; j < params.cols; j++) {
      dlogits[base + j] = (exp(logits[base + j] - m) * inv - select(0.0, 1.0, j == label)) * scale;
    }
    let picked = logits[base + min(label, params.cols - 1u)];
    loss_sum += select(0.0, log(s) - (picked - m), valid);
    hits += select(0.0, 1.0, valid && picked == m && earlier == 0.0);
  }
  loss_part[lane] = loss_sum;
  hit_part[lane] = hits;
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (lane < stride) {
      loss_part[lane] += loss_part[lane + stride];
      hit_part[lane] += hit_part[lane + stride];
    }
  }
  if (lane == 0u) {
    loss[0] = loss_part[0] * params.grad_scale;
    correct[0] = hit_part[0];
  }
}
`;
}
