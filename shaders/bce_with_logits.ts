import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { flatIndexWGSL } from './lib/indexing.js';
import type { ReduceLoad } from './reduce.js';

/**
 * log(1 + exp(-|x|)) without losing the small values: when exp(-|x|) is below f32 epsilon,
 * 1 + z rounds and log(1 + z) would be 0 or coarse; log(u) * z / (u - 1) cancels that rounding
 * (Goldberg's log1p), and z itself is exact when u == 1.
 */
const SOFTPLUS_NEG_ABS = /* wgsl */ `
fn softplus_neg_abs(v: f32) -> f32 {
  let z = exp(-abs(v));
  let u = 1.0 + z;
  return select(log(u) * z / (u - 1.0), z, u == 1.0);
}
`;

/**
 * The per-element loss, summed by the deterministic reduction:
 * l(x, t) = max(x, 0) - x t + log(1 + exp(-|x|)), equal to -t log s(x) - (1 - t) log(1 - s(x))
 * with no exp() of a large positive number.
 */
export const BCE_LOAD: ReduceLoad = {
  name: 'bce_with_logits',
  inputs: ['logits', 'targets'],
  helpers: SOFTPLUS_NEG_ABS,
  body: 'let v = logits[i];\n  return max(v, 0.0) - v * targets[i] + softplus_neg_abs(v);',
};

/**
 * dx = (sigmoid(x) - t) * scale [* dy[0]], d l / d x = s(x) - t; scale is 1/n for the mean.
 * With `upstream`, dy [1] is the gradient arriving at the loss.
 */
export function bceWithLogitsBackwardShader(upstream: boolean): string {
  return wgsl`
${flatIndexWGSL}
override WG: u32 = 256;
struct Params { n: u32, scale: f32 }
@group(0) @binding(0) var<storage, read> logits: array<f32>;
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
  let v = logits[i];
  // sigmoid from exp(-|x|) <= 1, so neither branch overflows.
  let e = exp(-abs(v));
  let s = select(e / (1.0 + e), 1.0 / (1.0 + e), v >= 0.0);
#if ${upstream}
  let g = params.scale * dy[0];
#else
  let g = params.scale;
#endif
  dx[i] = (s - targets[i]) * g;
}
`;
}
