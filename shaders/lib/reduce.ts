import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';

/**
 * `row_sum(v, lane)` and `row_max(v, lane)`: the sum / max of `v` over the lanes that share one row.
 *
 * Cooperative: a whole workgroup of `WG` lanes (an `override` the including shader declares; a power
 * of two) works on one row, and the lanes combine through a fixed-order tree in workgroup memory, so
 * a result is the same bit for bit on every run. Must be called in workgroup-uniform control flow.
 * Otherwise one invocation owns a row and both functions return `v` unchanged, so one kernel body
 * serves short rows (no barriers, which are costly on CPU adapters) and long rows alike.
 */
export function rowReduceWGSL(cooperative: boolean): string {
  const tree = (name: string, combine: string) => /* wgsl */ `
fn ${name}(v: f32, lane: u32) -> f32 {
  row_scratch[lane] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lane < s) {
      let a = row_scratch[lane];
      let b = row_scratch[lane + s];
      row_scratch[lane] = ${combine};
    }
    workgroupBarrier();
  }
  let r = row_scratch[0];
  // Keeps the next call's writes from racing this call's read of lane 0.
  workgroupBarrier();
  return r;
}
`;
  return wgsl`
#if ${cooperative}
var<workgroup> row_scratch: array<f32, WG>;
${tree('row_sum', 'a + b')}
${tree('row_max', 'max(a, b)')}
#else
fn row_sum(v: f32, lane: u32) -> f32 { return v; }
fn row_max(v: f32, lane: u32) -> f32 { return v; }
#endif
`;
}

/**
 * `row_of(wid, gid, nwg)`: the row an invocation works on, `lane_of(lid)`: its lane in that row, and
 * `row_lanes()`: how many lanes share it. Cooperative kernels give each workgroup a row (its lane is local_invocation_index); the
 * workgroup grid may be folded into y (dispatch1D), hence the flat workgroup index. The row depends
 * only on workgroup ids there, which keeps the row_sum/row_max barriers in uniform control flow.
 */
export function rowIndexWGSL(cooperative: boolean): string {
  return wgsl`
#if ${cooperative}
fn row_of(wid: vec3u, gid: vec3u, nwg: vec3u) -> u32 { return wid.x + wid.y * nwg.x; }
fn row_lanes() -> u32 { return WG; }
fn lane_of(lid: u32) -> u32 { return lid; }
#else
fn row_of(wid: vec3u, gid: vec3u, nwg: vec3u) -> u32 { return gid.x + gid.y * nwg.x * WG; }
fn row_lanes() -> u32 { return 1u; }
fn lane_of(lid: u32) -> u32 { return 0u; }
#endif
`;
}
