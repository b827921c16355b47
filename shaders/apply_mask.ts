import { flatIndexWGSL } from './lib/indexing.js';

/**
 * values[i] = 0 where bit i of the mask is clear, in place. The mask packs one bit per value (32×
 * smaller than an f32 mask, so the pass costs little more than reading and writing the values).
 * `select` rather than a multiply, so a pruned value that became Inf or NaN is zeroed too. The
 * values are updated in place because WebGPU forbids binding one buffer as both the read operand
 * and the output of a dispatch, which rules out the elementwise multiply without a copy.
 */
export function applyMaskShader(): string {
  return /* wgsl */ `
${flatIndexWGSL}
override WG: u32 = 256;
struct Params { n: u32 }
@group(0) @binding(0) var<storage, read_write> values: array<f32>;
@group(0) @binding(1) var<storage, read> mask: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg, WG);
  if (i >= params.n) { return; }
  let keep = (mask[i / 32u] >> (i % 32u)) & 1u;
  values[i] = select(0.0, values[i], keep != 0u);
}
`;
}
