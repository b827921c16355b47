import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
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
 * The table gradient dweight[v, d] = Σ_{i : indices[i] = v} dy[i, d], deterministic and without
 * float atomics (WGSL has none) or a sort, in four steps that group the positions by row:
 *  1. count:  count[v] = how many indices equal v (one invocation per row scans the indices);
 *  2. offsets: offset[v] = count[0] + … + count[v − 1] (one invocation; rows are few);
 *  3. fill:   order[offset[v] …] = the positions i with indices[i] = v, ascending (a second scan);
 *  4. sum:    one invocation per cell (v, d) adds dy[i, d] over its row's positions, in that order.
 * Cost: 2·vocab·n index reads for the grouping plus n·dim for the sums, against vocab·dim·n for a
 * cell that scans every index itself. Out-of-range indices belong to no row and are skipped.
 */
export function embeddingBackwardShader(stage: 'count' | 'offsets' | 'fill' | 'sum'): string {
  const head = /* wgsl */ `
override WG: u32 = 64;
${PARAMS}
${flatIndexWGSL}`;
  switch (stage) {
    case 'count':
    case 'fill': {
      const fill = stage === 'fill';
      return wgsl`${head}
@group(0) @binding(0) var<storage, read> indices: array<u32>;
#if ${fill}
@group(0) @binding(1) var<storage, read_write> order: array<u32>;
@group(0) @binding(2) var<storage, read> offset: array<u32>;
@group(0) @binding(3) var<uniform> params: Params;
#else
@group(0) @binding(1) var<storage, read_write> count: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;
#endif

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let v = flat_index(gid, nwg, WG);
  if (v >= params.vocab) { return; }
#if ${fill}
  var k = offset[v];
  for (var i = 0u; i < params.n; i++) {
    if (indices[i] == v) {
      order[k] = i;
      k++;
    }
  }
#else
  var k = 0u;
  for (var i = 0u; i < params.n; i++) {
    k += select(0u, 1u, indices[i] == v);
  }
  count[v] = k;
#endif
}
`;
    }
    case 'offsets':
      return /* wgsl */ `${head}
@group(0) @binding(0) var<storage, read> count: array<u32>;
@group(0) @binding(1) var<storage, read_write> offset: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(1)
fn main() {
  var total = 0u;
  for (var v = 0u; v < params.vocab; v++) {
    offset[v] = total;
    total += count[v];
  }
}
`;
    case 'sum':
      return /* wgsl */ `${head}
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> count: array<u32>;
@group(0) @binding(2) var<storage, read> offset: array<u32>;
@group(0) @binding(3) var<storage, read> order: array<u32>;
@group(0) @binding(4) var<storage, read_write> dweight: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = flat_index(gid, nwg, WG);
  if (e >= params.vocab * params.dim) { return; }
  let v = e / params.dim;
  let d = e % params.dim;
  var acc = 0.0;
  for (var s = offset[v]; s < offset[v] + count[v]; s++) {
    acc += dy[order[s] * params.dim + d];
  }
  dweight[e] = acc;
}
`;
  }
}
