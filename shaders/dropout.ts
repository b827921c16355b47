import { flatIndexWGSL } from './lib/indexing.js';
import { philoxWGSL } from './lib/philox.js';

/**
 * Train-mode dropout, out = in ⊙ keep · scale. Element i is kept when the top 24 bits of word i % 4
 * of philox_random(seed, stream = step, counter = i / 4) are at least `threshold` = round(p·2^24),
 * so the mask is a pure function of (seed, step, i). The backward pass runs this same kernel on dy
 * and regenerates the mask instead of storing it: dx = dy ⊙ keep · scale, since ∂y_i/∂x_i = keep_i·scale.
 */
export function dropoutShader(): string {
  return /* wgsl */ `
${philoxWGSL}
${flatIndexWGSL}
override WG: u32 = 64;
struct Params {
  n: u32,
  seed_lo: u32,
  seed_hi: u32,
  stream: u32,
  threshold: u32,
  scale: f32,
}

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

fn masked(i: u32, bits: u32) -> f32 {
  return select(0.0, src[i] * params.scale, (bits >> 8u) >= params.threshold);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let g = flat_index(gid, nwg, WG);
  let base = g * 4u;
  if (base >= params.n) { return; }
  let r = philox_random(vec2u(params.seed_lo, params.seed_hi), params.stream, g);
  dst[base] = masked(base, r.x);
  if (base + 1u < params.n) { dst[base + 1u] = masked(base + 1u, r.y); }
  if (base + 2u < params.n) { dst[base + 2u] = masked(base + 2u, r.z); }
  if (base + 3u < params.n) { dst[base + 3u] = masked(base + 3u, r.w); }
}
`;
}
