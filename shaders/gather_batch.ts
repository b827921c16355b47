import { flatIndexWGSL } from './lib/indexing.js';

/**
 * Builds one training batch on the GPU from a byte dataset resident in GPU memory: sample
 * order[start + b] is copied to row b, its pixels mapped to (byte/255 − mean)/std, and its label
 * copied. Bytes are packed four to a u32 word because WGSL has no 8-bit storage type.
 */
export function gatherBatchShader(): string {
  return /* wgsl */ `
${flatIndexWGSL}
override WG: u32 = 256;
struct Params { batch: u32, pixels: u32, start: u32, count: u32, mean: f32, inv_std: f32 }

@group(0) @binding(0) var<storage, read> images: array<u32>;
@group(0) @binding(1) var<storage, read> labels: array<u32>;
@group(0) @binding(2) var<storage, read> order: array<u32>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<u32>;
@group(0) @binding(5) var<uniform> params: Params;

fn byte_at(i: u32) -> u32 {
  return (images[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu;
}

fn label_at(i: u32) -> u32 {
  return (labels[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg, WG);
  if (i >= params.batch * params.pixels) { return; }
  let b = i / params.pixels;
  let p = i - b * params.pixels;
  // Wraps around the epoch's order, so a final short batch is topped up from its start.
  let sample = order[(params.start + b) % params.count];
  x[i] = (f32(byte_at(sample * params.pixels + p)) / 255.0 - params.mean) * params.inv_std;
  if (p == 0u) { y[b] = label_at(sample); }
}
`;
}
