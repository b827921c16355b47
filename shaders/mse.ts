import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { flatIndexWGSL } from './lib/indexing.js';
import type { ReduceLoad } from './reduce.js';

/** The per-element squared error (x - t)^2, summed by the deterministic reduction. */
export const MSE_LOAD: ReduceLoad = {
  name: 'mse',
  inputs: ['pred', 'targets'],
  body: 'let d = pred[i] - targets[i];\n  return d * d;',
};

/** dx = 2 (x - t) * scale [* dy[0]]: d (x - t)^2 / dx = 2 (x - t); scale is 1/n for the mean. */
export function mseBackwardShader(upstream: boolean): string {
  return wgsl`
${flatIndexWGSL}
override WG: u32 = 256;
struct Params { n: u32, scale: f32 }
@group(0) @binding(0) var<storage, read> pred: array<f32>;
@group(0) @binding(1) var<storage, read> targets: array<f32>;
#if ${upstream}
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
#else
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
#endif

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg, WG);
  if (i >= params.n) { return; }
#if ${upstream}
  let g = 2.0 * params.scale * dy[0];
#else
  let g = 2.0 * params.scale;
#endif
  dx[i] = (pred[i] - targets[i]) * g;
}
`;
}
