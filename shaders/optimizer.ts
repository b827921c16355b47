import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { flatIndexWGSL } from './lib/indexing.js';
import { stepHealthWGSL } from './lib/step_health.js';

/**
 * Optimizer updates over flat buffers: every parameter tensor of a model packed at offsets into one
 * buffer, its gradient and state likewise, so one dispatch updates the whole model. All
 * hyperparameters, and the step count t, sit in the uniform buffer: a learning-rate schedule
 * rewrites the uniform each step and never recompiles.
 */

/**
 * What a guarded update does first (binding `health`, the StepHealth record after the finite
 * check): skip the whole update when the step is bad or the run halted, so parameters and
 * optimizer state keep their last finite values. Invocation 0 also books the step — counts a
 * skip, remembers the first bad step, halts under mode 0 ('error') — and clears the other
 * parity's slot for the next step (no invocation of this dispatch reads that one).
 *
 * The record is read with plain loads (atomics would serialise every lane on some drivers). The
 * one word both read and written here, `halted`, is written only when this step's slot is bad,
 * and then every invocation skips whatever it reads.
 */
const guardWGSL = /* wgsl */ `
struct StepFlags {
  halted: u32,
  skipped: u32,
  first_step: u32,
  first_code: u32,
  slots: array<u32, 2>,
  parity: u32,
  step: u32,
  mode: u32,
}

fn update_skipped(i: u32) -> bool {
  let p = health.parity;
  let bad = health.slots[p];
  if (i == 0u && health.halted == 0u) {
    health.slots[1u - p] = 0u;
    if (bad != 0u) {
      health.skipped += 1u;
      if (health.first_step == 0u) {
        health.first_step = health.step;
        health.first_code = bad;
      }
      if (health.mode == 0u) { health.halted = 1u; }
    }
  }
  return bad != 0u || health.halted != 0u;
}
`;

/**
 * torch.optim.SGD, element-wise (θ param, g grad, b momentum buffer, μ momentum, τ dampening, λ decay):
 *   g ← g + λθ;  b ← g at t = 1, else μb + (1 − τ)g;  g ← g + μb (nesterov) or b;  θ ← θ − lr·g.
 * Bindings: param, grad, [momentum_buffer].
 */
export function sgdShader(momentum: boolean, guarded = false): string {
  return wgsl`
${flatIndexWGSL}
#if ${guarded}
${guardWGSL}
#endif
override WG: u32 = 256;
struct Params {
  n: u32,
  t: u32,
  nesterov: u32,
  lr: f32,
  momentum: f32,
  dampening: f32,
  weight_decay: f32,
}
@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
#if ${momentum && guarded}
@group(0) @binding(2) var<storage, read_write> momentum_buffer: array<f32>;
@group(0) @binding(3) var<storage, read_write> health: StepFlags;
@group(0) @binding(4) var<uniform> params: Params;
#elif ${momentum}
@group(0) @binding(2) var<storage, read_write> momentum_buffer: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
#elif ${guarded}
@group(0) @binding(2) var<storage, read_write> health: StepFlags;
@group(0) @binding(3) var<uniform> params: Params;
#else
@group(0) @binding(2) var<uniform> params: Params;
#endif

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg, WG);
#if ${guarded}
  if (update_skipped(i)) { return; }
#endif
  if (i >= params.n) { return; }
  let p = param[i];
  var g = grad[i] + params.weight_decay * p;
#if ${momentum}
  // PyTorch starts the buffer as a copy of the first gradient, undamped.
  let b = select(params.momentum * momentum_buffer[i] + (1.0 - params.dampening) * g, g, params.t == 1u);
  momentum_buffer[i] = b;
  g = select(b, g + params.momentum * b, params.nesterov != 0u);
#endif
  param[i] = p - params.lr * g;
}
`;
}

/**
 * torch.optim.Adam and AdamW in one kernel (θ param, g grad, m, v moments):
 *   g ← g + l2·θ (Adam's weight decay; 0 for AdamW);  θ ← θ·(1 − decay) (AdamW's lr·λ; 0 for Adam);
 *   m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²;
 *   θ ← θ − step_size·m / (√v / bc2_sqrt + eps), step_size = lr/(1 − β1^t), bc2_sqrt = √(1 − β2^t),
 * which is m̂/(√v̂ + eps) arranged as PyTorch computes it. The bias corrections are formed in float64
 * on the CPU from t (f32 pow would lose digits of 1 − β2^t at small t).
 * Bindings: param, grad, m, v.
 */
export function adamShader(guarded = false): string {
  return wgsl`
${flatIndexWGSL}
#if ${guarded}
${guardWGSL}
#endif
override WG: u32 = 256;
struct Params {
  n: u32,
  t: u32,
  lr: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  l2: f32,
  decay: f32,
  step_size: f32,
  bc2_sqrt: f32,
}
@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> exp_avg: array<f32>;
@group(0) @binding(3) var<storage, read_write> exp_avg_sq: array<f32>;
#if ${guarded}
@group(0) @binding(4) var<storage, read_write> health: StepFlags;
@group(0) @binding(5) var<uniform> params: Params;
#else
@group(0) @binding(4) var<uniform> params: Params;
#endif

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg, WG);
#if ${guarded}
  if (update_skipped(i)) { return; }
#endif
  if (i >= params.n) { return; }
  let p = param[i];
  let g = grad[i] + params.l2 * p;
  let m = params.beta1 * exp_avg[i] + (1.0 - params.beta1) * g;
  let v = params.beta2 * exp_avg_sq[i] + (1.0 - params.beta2) * g * g;
  exp_avg[i] = m;
  exp_avg_sq[i] = v;
  let denom = sqrt(v) / params.bc2_sqrt + params.eps;
  param[i] = p * (1.0 - params.decay) - params.step_size * m / denom;
}
`;
}

/** out[i] = value for i < n (gradient zeroing in launch order; clearBuffer is not in the eager chain). */
export function fillShader(): string {
  return /* wgsl */ `
${flatIndexWGSL}
override WG: u32 = 256;
struct Params { n: u32, value: f32 }
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg, WG);
  if (i >= params.n) { return; }
  out[i] = params.value;
}
`;
}

/**
 * Two-stage sum of squares for the global gradient norm. 'partial': workgroup w sums src[i]² over
 * i ≡ w·WG + lane (mod groups·WG), writing dst[w]. 'final': one workgroup sums the partials and
 * writes dst[0] = √Σ. Neither needs the CPU, so clipping stays inside one submit.
 */
export function sumSquaresShader(stage: 'partial' | 'final'): string {
  const partial = stage === 'partial';
  return wgsl`
override WG: u32 = 64;
struct Params { n: u32, groups: u32 }
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
var<workgroup> lanes: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  var acc = 0.0;
#if ${partial}
  for (var i = wid.x * WG + lid; i < params.n; i += params.groups * WG) {
    let v = src[i];
    acc += v * v;
  }
#else
  for (var i = lid; i < params.n; i += WG) { acc += src[i]; }
#endif
  lanes[lid] = acc;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
    if (lid < stride) {
      lanes[lid] += lanes[lid + stride];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
#if ${partial}
    dst[wid.x] = lanes[0];
#else
    dst[0] = sqrt(lanes[0]);
#endif
  }
}
`;
}

/**
 * grad ← grad · min(1, max_norm / (norm + 1e-6)), the norm read from a buffer written on the GPU
 * (torch.nn.utils.clip_grad_norm_ with its 1e-6 guard). Bindings: norm, grad.
 */
export function clipScaleShader(): string {
  return /* wgsl */ `
${flatIndexWGSL}
override WG: u32 = 256;
struct Params { n: u32, max_norm: f32 }
@group(0) @binding(0) var<storage, read> norm: array<f32>;
@group(0) @binding(1) var<storage, read_write> grad: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg, WG);
  if (i >= params.n) { return; }
  let coef = min(1.0, params.max_norm / (norm[0] + 1e-6));
  grad[i] = grad[i] * coef;
}
`;
}

/**
 * The finite check of a training step, before clipping and the update: marks this step's slot
 * of the StepHealth record when the loss or any gradient element is NaN or ±Inf, and records the
 * run's parity, number and mode for the dispatches after it. Finiteness is tested on the bits
 * (exponent all ones), which no compiler may assume away. Each invocation reads four elements
 * (n is a multiple of 4: the flat buffers are padded), and only a bad one touches an atomic, so
 * a healthy step costs one read of the gradient. Once halted the marks no longer matter: the
 * update and the metric sums test `halted` first.
 * Bindings: grad (as vec4), loss [1], health, params.
 */
export function finiteCheckShader(): string {
  return /* wgsl */ `
${flatIndexWGSL}
${stepHealthWGSL}
override WG: u32 = 256;
struct Params { n: u32, step: u32, mode: u32 }
@group(0) @binding(0) var<storage, read> grad: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> loss: array<f32>;
@group(0) @binding(2) var<storage, read_write> health: StepHealth;
@group(0) @binding(3) var<uniform> params: Params;

const EXPONENT = 0x7f800000u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg, WG);
  let p = params.step & 1u;
  if (i == 0u) {
    atomicStore(&health.parity, p);
    atomicStore(&health.step, params.step);
    atomicStore(&health.mode, params.mode);
    if ((bitcast<u32>(loss[0]) & EXPONENT) == EXPONENT) { atomicMax(&health.slots[p], 0xffffffffu); }
  }
  if (i >= params.n / 4u) { return; }
  let bad = (bitcast<vec4<u32>>(grad[i]) & vec4(EXPONENT)) == vec4(EXPONENT);
  if (any(bad)) {
    let lane = select(select(select(3u, 2u, bad.z), 1u, bad.y), 0u, bad.x);
    atomicMax(&health.slots[p], 0xfffffffeu - (4u * i + lane));
  }
}
`;
}
