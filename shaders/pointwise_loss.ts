import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { flatIndexWGSL } from './lib/indexing.js';
import type { ReduceLoad } from './reduce.js';

/** The losses that are a mean of per-element terms l(x_i, t_i) over a prediction and a target of one shape. */
export type PointwiseLoss = 'mse' | 'bce_with_logits';

/** One pointwise loss as WGSL: the term l(pred[i], targets[i]) and its derivative in pred. */
export interface PointwiseLossCode {
  /** Helper functions both bodies may call. */
  helpers: string;
  /** Body of `fn load(i: u32) -> f32` returning l(pred[i], targets[i]), summed by the deterministic reduction. */
  term: string;
  /** Body of `fn loss_grad(i: u32) -> f32` returning d l / d pred[i]. */
  derivative: string;
}

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

/** Every pointwise loss, keyed by its op kind: a kind added to PointwiseLoss without its code fails `tsc`. */
export const POINTWISE_LOSSES: { readonly [K in PointwiseLoss]: PointwiseLossCode } = {
  // (x - t)², d/dx = 2 (x - t)
  mse: {
    helpers: '',
    term: 'let d = pred[i] - targets[i];\n  return d * d;',
    derivative: 'return 2.0 * (pred[i] - targets[i]);',
  },
  // max(x, 0) - x t + log(1 + exp(-|x|)), equal to -t log s(x) - (1 - t) log(1 - s(x)) with no exp()
  // of a large positive number; d/dx = s(x) - t, with the sigmoid from exp(-|x|) <= 1 so neither
  // branch overflows.
  bce_with_logits: {
    helpers: SOFTPLUS_NEG_ABS,
    term: 'let v = pred[i];\n  return max(v, 0.0) - v * targets[i] + softplus_neg_abs(v);',
    derivative: `let v = pred[i];
  let e = exp(-abs(v));
  let s = select(e / (1.0 + e), 1.0 / (1.0 + e), v >= 0.0);
  return s - targets[i];`,
  },
};

/** The per-element term of `kind` as a load of the deterministic sum (inputs pred, targets). */
export function pointwiseLossLoad(kind: PointwiseLoss): ReduceLoad {
  const { helpers, term } = POINTWISE_LOSSES[kind];
  return { name: kind, inputs: ['pred', 'targets'], helpers, body: term };
}

/**
 * Backward of the mean: dx_i = l'(x_i, t_i) · scale [· dy[0]], scale being 1/n for the mean and dy
 * the gradient arriving at the loss when `upstream`.
 */
export function pointwiseLossBackwardShader(kind: PointwiseLoss, upstream: boolean): string {
  const { helpers, derivative } = POINTWISE_LOSSES[kind];
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
