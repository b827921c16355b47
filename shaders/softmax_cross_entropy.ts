import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { isNanWGSL } from './lib/nan.js';
import { rowIndexWGSL, rowReduceWGSL } from './lib/reduce.js';

/**
 * Uniforms shared by the kernels below. `has_ignore` says whether `ignore_index` is set: every u32 is
 * a possible label, so no value can stand for "none".
 */
const PARAMS = /* wgsl */ `struct Params { rows: u32, cols: u32, ignore_index: u32, has_ignore: u32 }`;

/**
 * How a row's label is treated: kept (in [0, cols) and not the ignore index), ignored (equal to the
 * ignore index: no loss, no gradient, left out of the mean), or invalid (any other label >= cols:
 * no loss, no gradient, left out of the mean, and counted so that the caller can raise an error).
 */
const LABEL_KIND = /* wgsl */ `
fn is_ignored(label: u32) -> bool { return params.has_ignore != 0u && label == params.ignore_index; }
fn is_kept(label: u32) -> bool { return label < params.cols && !is_ignored(label); }
fn is_invalid(label: u32) -> bool { return label >= params.cols && !is_ignored(label); }
// nan_f32() is the loss when no row is kept (0/0, as in PyTorch).
${isNanWGSL}
// log_softmax of a row is NaN everywhere when a logit is NaN, one is +inf (inf - inf) or all are
// -inf: PyTorch then gives the row a NaN loss (if kept) and NaN gradients (even if ignored).
// Tested from the row max m and the NaN count, since max() may drop a NaN.
fn is_poisoned(m: f32, nans: f32) -> bool { return nans > 0.0 || is_inf(m); }
// argmax(row) as torch.argmax: the first NaN if the row has one, else the first maximum. An entry
// is a candidate when it could be that pick; the label is the prediction when its logit is a
// candidate and no candidate comes before it (earlier = 0).
fn is_candidate(z: f32, m: f32, nans: f32) -> bool { return select(z == m, is_nan(z), nans > 0.0); }
fn is_hit(picked: f32, m: f32, earlier: f32, nans: f32) -> bool { return is_candidate(picked, m, nans) && earlier == 0.0; }`;

/**
 * `count_labels(lane)`: the kept and invalid rows of the batch summed into kept_part[0] and
 * invalid_part[0] by a fixed-order tree (lane 0 made the last addition; other lanes need a barrier
 * before reading). The shader declares `labels`, `params` and both workgroup arrays of WG.
 */
const LABEL_COUNT = /* wgsl */ `
fn count_labels(lane: u32) {
  var k = 0u;
  var bad = 0u;
  for (var row = lane; row < params.rows; row += WG) {
    let label = labels[row];
    k += select(0u, 1u, is_kept(label));
    bad += select(0u, 1u, is_invalid(label));
  }
  kept_part[lane] = k;
  invalid_part[lane] = bad;
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (lane < stride) {
      kept_part[lane] += kept_part[lane + stride];
      invalid_part[lane] += invalid_part[lane + stride];
    }
  }
}`;

/**
 * One workgroup counts the kept and the invalid rows of the batch, before the per-row kernel, which
 * divides by the kept count. A fixed-order tree, so the counts never depend on scheduling.
 */
export function crossEntropyLabelCountShader(): string {
  return /* wgsl */ `
override WG: u32 = 256;
${PARAMS}
@group(0) @binding(0) var<storage, read> labels: array<u32>;
@group(0) @binding(1) var<storage, read_write> kept: array<f32>;
@group(0) @binding(2) var<storage, read_write> invalid: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
var<workgroup> kept_part: array<u32, WG>;
var<workgroup> invalid_part: array<u32, WG>;
${LABEL_KIND}
${LABEL_COUNT}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lane: u32) {
  count_labels(lane);
  if (lane == 0u) {
    kept[0] = f32(kept_part[0]);
    invalid[0] = f32(invalid_part[0]);
  }
}
`;
}

/**
 * Softmax cross-entropy of logits [rows, cols] against integer labels, forward and backward in one
 * pass over each row, with K = the number of kept rows (read from `kept`):
 *   row_loss[r]    = (log sum_j exp(z_j - m) - (z_label - m)) / K   (m = row max, for stability)
 *   dlogits[r][j]  = (softmax(z)_j - [j == label]) / K              (d mean loss / d z_j)
 *   row_correct[r] = 1 when argmax(z) is the label (torch.argmax: the first NaN, else the first maximum)
 * A row that is not kept gets zero loss, zero gradient and is not correct. With K = 0 every
 * row_loss is NaN (so is their sum, the mean loss) and every gradient zero, as in PyTorch. A row
 * whose logits make log_softmax NaN (is_poisoned) gets NaN gradients, and a NaN loss if kept.
 * Cooperative: a workgroup per row (many classes); otherwise one invocation per row.
 */
export function softmaxCrossEntropyShader(cooperative: boolean): string {
  return wgsl`
override WG: u32 = 64;
${PARAMS}
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<u32>;
@group(0) @binding(2) var<storage, read_write> row_loss: array<f32>;
@group(0) @binding(3) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(4) var<storage, read_write> row_correct: array<f32>;
@group(0) @binding(5) var<storage, read> kept: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;
${rowReduceWGSL(cooperative)}
${rowIndexWGSL(cooperative)}
${LABEL_KIND}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32,
        @builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = row_of(wid, gid, nwg);
  if (row >= params.rows) { return; }
  let lane = lane_of(lid);
  let base = row * params.cols;
  let label = labels[row];
  let valid = is_kept(label);
  let count = kept[0];
  var m = logits[base];
  var nans = 0.0;
  for (var j = lane; j < params.cols; j += row_lanes()) {
    let z = logits[base + j];
    m = max(m, z);
    nans += select(0.0, 1.0, is_nan(z));
  }
  m = row_max(m, lane);
  nans = row_sum(nans, lane);
  var s = 0.0;
  // Row entries before the label that argmax would pick first (see is_hit).
  var earlier = 0.0;
  for (var j = lane; j < params.cols; j += row_lanes()) {
    let z = logits[base + j];
    s += exp(z - m);
    earlier += select(0.0, 1.0, j < label && is_candidate(z, m, nans));
  }
  s = row_sum(s, lane);
  earlier = row_sum(earlier, lane);
  let poisoned = is_poisoned(m, nans);
  let inv = 1.0 / s;
  let scale = select(0.0, 1.0 / count, valid);
  for (var j = lane; j < params.cols; j += row_lanes()) {
    let p = exp(logits[base + j] - m) * inv;
    dlogits[base + j] = select((p - select(0.0, 1.0, j == label)) * scale, nan_f32(), poisoned);
  }
  if (lane == 0u) {
    let picked = logits[base + min(label, params.cols - 1u)];
    let loss = select((log(s) - (picked - m)) / count, nan_f32(), poisoned);
    row_loss[row] = select(select(0.0, loss, valid), nan_f32(), count == 0.0);
    row_correct[row] = select(0.0, 1.0, valid && is_hit(picked, m, earlier, nans));
  }
}
`;
}

/**
 * The whole batch in one workgroup (small batches): the lanes first count the kept and invalid rows,
 * then each takes rows lane, lane + WG, …, writes their gradients, and keeps running sums of loss and
 * hits; a fixed-order tree then writes the mean loss and the hit count. One launch instead of four,
 * and as deterministic as the separate sums.
 */
export function softmaxCrossEntropyBatchShader(): string {
  return /* wgsl */ `
override WG: u32 = 64;
${PARAMS}
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<u32>;
@group(0) @binding(2) var<storage, read_write> loss: array<f32>;
@group(0) @binding(3) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(4) var<storage, read_write> correct: array<f32>;
@group(0) @binding(5) var<storage, read_write> invalid: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;
var<workgroup> loss_part: array<f32, WG>;
var<workgroup> hit_part: array<f32, WG>;
var<workgroup> kept_part: array<u32, WG>;
var<workgroup> invalid_part: array<u32, WG>;
${LABEL_KIND}
${LABEL_COUNT}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lane: u32) {
  count_labels(lane);
  workgroupBarrier();
  let count = f32(kept_part[0]);

  var loss_sum = 0.0;
  var hits = 0.0;
  for (var row = lane; row < params.rows; row += WG) {
    let base = row * params.cols;
    let label = labels[row];
    let valid = is_kept(label);
    var m = logits[base];
    var nans = 0.0;
    for (var j = 0u; j < params.cols; j++) {
      let z = logits[base + j];
      m = max(m, z);
      nans += select(0.0, 1.0, is_nan(z));
    }
    var s = 0.0;
    var earlier = 0.0;
    for (var j = 0u; j < params.cols; j++) {
      let z = logits[base + j];
      s += exp(z - m);
      earlier += select(0.0, 1.0, j < label && is_candidate(z, m, nans));
    }
    let poisoned = is_poisoned(m, nans);
    let inv = 1.0 / s;
    let scale = select(0.0, 1.0 / count, valid);
    for (var j = 0u; j < params.cols; j++) {
      let p = exp(logits[base + j] - m) * inv;
      dlogits[base + j] = select((p - select(0.0, 1.0, j == label)) * scale, nan_f32(), poisoned);
    }
    let picked = logits[base + min(label, params.cols - 1u)];
    loss_sum += select(0.0, select(log(s) - (picked - m), nan_f32(), poisoned), valid);
    hits += select(0.0, 1.0, valid && is_hit(picked, m, earlier, nans));
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
    loss[0] = select(loss_part[0] / count, nan_f32(), count == 0.0);
    correct[0] = hit_part[0];
    invalid[0] = f32(invalid_part[0]);
  }
}
`;
}
