import { flatIndexWGSL } from './lib/indexing.js';

/** acc[i] += src[i] over n elements: running sums of per-step metrics kept on the GPU. */
export function accumulateShader(): string {
  return /* wgsl */ `
${flatIndexWGSL}
override WG: u32 = 64;
struct Params { n: u32 }
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> acc: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg, WG);
  if (i < params.n) { acc[i] = acc[i] + src[i]; }
}
`;
}
