import { flatIndexWGSL } from './lib/indexing.js';

/**
 * y [outer, C + before + after, inner] from x [outer, C, inner]: channel c of y is channel
 * c − before of x, or zero where that channel does not exist. A negative `before`/`after` crops
 * instead, which makes the op its own adjoint: the gradient of a pad is the crop with both signs
 * flipped. One invocation per output element.
 */
export function padChannelsShader(): string {
  return /* wgsl */ `
override WG: u32 = 256;
struct Params { outer: u32, in_channels: u32, out_channels: u32, inner: u32, before: i32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
${flatIndexWGSL}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = flat_index(gid, nwg, WG);
  let plane = params.out_channels * params.inner;
  if (e >= params.outer * plane) { return; }
  let o = e / plane;
  let rest = e - o * plane;
  let c = rest / params.inner;
  let k = rest - c * params.inner;
  let source = i32(c) - params.before;
  let inside = source >= 0 && source < i32(params.in_channels);
  // The read is clamped into x and zeroed by select: no divergent branch on CPU adapters.
  let at = (o * params.in_channels + u32(clamp(source, 0, i32(params.in_channels) - 1))) * params.inner + k;
  y[e] = select(0.0, x[at], inside);
}
`;
}
