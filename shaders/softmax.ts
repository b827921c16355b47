import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { rowIndexWGSL, rowReduceWGSL } from './lib/reduce.js';

/**
 * Softmax along the last axis of x viewed as [rows, cols]. Cooperative: a workgroup per row with
 * tree reductions (long rows); otherwise one invocation per row (short rows, no barriers).
 *
 * forward:  y = exp(x - max) / sum exp(x - max); subtracting the row max keeps exp() <= 1.
 * backward: dx = y * (dy - sum(dy * y)), from dy_j/dx_i = y_j (delta_ij - y_i).
 */
export function softmaxShader(cooperative: boolean, direction: 'forward' | 'backward'): string {
  const backward = direction === 'backward';
  return wgsl`
override WG: u32 = 64;
struct Params { rows: u32, cols: u32 }
#if ${backward}
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
#else
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
#endif
${rowReduceWGSL(cooperative)}
${rowIndexWGSL(cooperative)}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32,
        @builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = row_of(wid, gid, nwg);
  if (row >= params.rows) { return; }
  let lane = lane_of(lid);
  let base = row * params.cols;
#if ${backward}
  var acc = 0.0;
  for (var j = lane; j < params.cols; j += row_lanes()) {
    acc += dy[base + j] * y[base + j];
  }
  let inner = row_sum(acc, lane);
  for (var j = lane; j < params.cols; j += row_lanes()) {
    dx[base + j] = y[base + j] * (dy[base + j] - inner);
  }
#else
  var m = x[base];
  for (var j = lane; j < params.cols; j += row_lanes()) {
    m = max(m, x[base + j]);
  }
  m = row_max(m, lane);
  var s = 0.0;
  for (var j = lane; j < params.cols; j += row_lanes()) {
    s += exp(x[base + j] - m);
  }
  let inv = 1.0 / row_sum(s, lane);
  for (var j = lane; j < params.cols; j += row_lanes()) {
    y[base + j] = exp(x[base + j] - m) * inv;
  }
#endif
}
`;
}
