import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { flatIndexWGSL } from './indexing.js';

/**
 * Backward of a mean of per-element losses l(x_i, t_i): dx_i = l'(x_i, t_i) · scale [· dy[0]], scale
 * being 1/n for the mean and dy the gradient arriving at the loss when `upstream`. `derivative` is
 * the body of `fn loss_grad(i: u32) -> f32`, reading `pred[i]` and `targets[i]`.
 */
export function pointwiseLossBackwardShader(upstream: boolean, derivative: string, helpers = ''): string {
  return wgsl`
${flatIndexWGSL}
${helpers}
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

fn loss_grad(i: u32) -> f32 {
  ${derivative}
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg, WG);
  if (i >= params.n) { return; }
#if ${upstream}
  dx[i] = loss_grad(i) * params.scale * dy[0];
#else
  dx[i] = loss_grad(i) * params.scale;
#endif
}
`;
}
