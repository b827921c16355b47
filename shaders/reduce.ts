import { flatIndexWGSL } from './lib/indexing.js';

/**
 * What a reduction sums: `inputs` read-only f32 buffers at bindings 0.. and `load(i)`, the value
 * of element i. Plain sums load x[i]; fused losses (bce_with_logits, mse) compute the per-element
 * loss here, so no per-element loss buffer is written.
 */
export interface ReduceLoad {
  name: string;
  inputs: string[];
  /** WGSL body of `fn load(i: u32) -> f32`, using the input names. */
  body: string;
  /** Extra WGSL (helper functions) the body needs. */
  helpers?: string;
}

export const LOAD_IDENTITY: ReduceLoad = { name: 'sum', inputs: ['x'], body: 'return x[i];' };

/**
 * x viewed as [outer, len, inner], reduced over `len` in `chunks` chunks of `chunk` rows:
 * out[c][o][i] = scale * sum_{r in chunk c} load(o*len*inner + r*inner + i), skipping flat indices
 * >= n (a flat array viewed as a ragged [len, inner] grid). One invocation per output, summing in
 * order: no workgroup memory or barriers (costly on CPU adapters), and a fixed order, so results
 * are the same bit for bit on every run. Neighbouring invocations read neighbouring columns, so
 * reads along a row are coalesced (the bias-gradient case, axis 0 of [B, N]). Chunks give
 * parallelism when there are few outputs and many rows; a later pass sums them the same way.
 */
export function reduceColumnsShader(load: ReduceLoad): string {
  const k = load.inputs.length;
  const decls = load.inputs.map((name, b) => `@group(0) @binding(${b}) var<storage, read> ${name}: array<f32>;`).join('\n');
  return /* wgsl */ `
${flatIndexWGSL}
override WG: u32 = 256;
struct Params { outer: u32, len: u32, inner: u32, chunk: u32, chunks: u32, n: u32, scale: f32 }
${decls}
@group(0) @binding(${k}) var<storage, read_write> out: array<f32>;
@group(0) @binding(${k + 1}) var<uniform> params: Params;
${load.helpers ?? ''}
fn load(i: u32) -> f32 {
  ${load.body}
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg, WG);
  let m = params.outer * params.inner;
  if (i >= m * params.chunks) { return; }
  let c = i / m;
  let o = i % m;
  let base = (o / params.inner) * params.len * params.inner + o % params.inner;
  let r0 = c * params.chunk;
  let r1 = min(params.len, r0 + params.chunk);
  var acc = 0.0;
  for (var r = r0; r < r1; r++) {
    let at = base + r * params.inner;
    if (at >= params.n) { break; }
    acc += load(at);
  }
  out[i] = acc * params.scale;
}
`;
}

/**
 * The backward of a reduction along one axis: dx viewed as [outer, len, inner] gets
 * dx[o][r][i] = scale * dy[o][i] (d sum / d x = 1 for every summed element; scale 1/len for a mean).
 */
export function broadcastAxisShader(): string {
  return /* wgsl */ `
${flatIndexWGSL}
override WG: u32 = 256;
struct Params { n: u32, len: u32, inner: u32, scale: f32 }
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg, WG);
  if (i >= params.n) { return; }
  let o = i / (params.len * params.inner);
  dx[i] = dy[o * params.inner + i % params.inner] * params.scale;
}
`;
}
