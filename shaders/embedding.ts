import { flatIndexWGSL } from './lib/indexing.js';

/** n indices, each picking a row of `dim` values from a [vocab, dim] table. */
const PARAMS = /* wgsl */ `struct Params { n: u32, dim: u32, vocab: u32 }`;

/**
 * y[i, d] = weight[indices[i], d], one invocation per output element. An index >= vocab (out of
 * range) gives a row of zeros here and is counted by embeddingCountShader, so the caller can raise
 * an error naming the step instead of reading past the table.
 */
export function embeddingShader(): string {
  return /* wgsl */ `
override WG: u32 = 256;
${PARAMS}
@group(0) @binding(0) var<storage, read> indices: array<u32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
${flatIndexWGSL}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = flat_index(gid, nwg, WG);
  if (e >= params.n * params.dim) { return; }
  let row = indices[e / params.dim];
  let d = e % params.dim;
  y[e] = select(0.0, weight[min(row, params.vocab - 1u) * params.dim + d], row < params.vocab);
}
`;
}

/** One workgroup counts the indices >= vocab into invalid[0] (as f32) by a fixed-order tree. */
export function embeddingCountShader(): string {
  return /* wgsl */ `
override WG: u32 = 256;
${PARAMS}
@group(0) @binding(0) var<storage, read> indices: array<u32>;
@group(0) @binding(1) var<storage, read_write> invalid: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
var<workgroup> part: array<u32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lane: u32) {
  var bad = 0u;
  for (var i = lane; i < params.n; i += WG) {
    bad += select(0u, 1u, indices[i] >= params.vocab);
  }
  part[lane] = bad;
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (lane < stride) { part[lane] += part[lane + stride]; }
  }
  if (lane == 0u) { invalid[0] = f32(part[0]); }
}
`;
}

/**
 * dweight[v, d] = Σ_{i : indices[i] = v} dy[i, d]. Each invocation owns one cell of dweight and scans
 * every index in order: deterministic, with no float atomics (WGSL has none) and no sort, at the
 * cost of vocab·dim·n index reads — cheap for character vocabularies (a few hundred rows; the lanes
 * of a workgroup share a row, so they read the same index at once). Out-of-range indices match no row.
 */
export function embeddingBackwardShader(): string {
  return /* wgsl */ `
override WG: u32 = 64;
${PARAMS}
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> indices: array<u32>;
@group(0) @binding(2) var<storage, read_write> dweight: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
${flatIndexWGSL}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = flat_index(gid, nwg, WG);
  if (e >= params.vocab * params.dim) { return; }
  let v = e / params.dim;
  let d = e % params.dim;
  var acc = 0.0;
  for (var i = 0u; i < params.n; i++) {
    if (indices[i] == v) { acc += dy[i * params.dim + d]; }
  }
  dweight[e] = acc;
}
`;
}
