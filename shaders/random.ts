import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { flatIndexWGSL } from './lib/indexing.js';
import { philoxWGSL } from './lib/philox.js';

export const RANDOM_KINDS = ['bits', 'uniform', 'normal', 'truncated_normal'] as const;
export type RandomKind = (typeof RANDOM_KINDS)[number];

/**
 * Fills a buffer from Philox: invocation g writes elements 4g..4g+3 from philox_random(seed, stream, g),
 * so element i depends only on (seed, stream, i) and never on the launch shape.
 *   bits: the raw words; uniform: shift + scale·u; normal: shift + scale·z (Box-Muller on word pairs);
 *   truncated_normal: PyTorch's inverse-CDF method, shift + scale·√2·erfinv(e) with e uniform on
 *   [e_lo, e_lo + e_span] (the erf-scale images of the bounds), clamped to [clamp_lo, clamp_hi].
 */
export function randomShader(kind: RandomKind): string {
  return wgsl`
${philoxWGSL}
${flatIndexWGSL}
override WG: u32 = 64;
struct Params {
  n: u32,
  seed_lo: u32,
  seed_hi: u32,
  stream: u32,
  shift: f32,
  scale: f32,
  e_lo: f32,
  e_span: f32,
  clamp_lo: f32,
  clamp_hi: f32,
}

#if ${kind === 'bits'}
@group(0) @binding(0) var<storage, read_write> out: array<u32>;
#else
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
#endif
@group(0) @binding(1) var<uniform> params: Params;

#if ${kind === 'truncated_normal'}
// erfinv in single precision (M. Giles, "Approximating the erfinv function", GPU Computing Gems, 2011):
// two polynomials in w = -log(1 - x^2), relative error near f32 rounding. WGSL has no erfinv.
fn erfinv(x: f32) -> f32 {
  var w = -log((1.0 - x) * (1.0 + x));
  var p: f32;
  if (w < 5.0) {
    w = w - 2.5;
    p = 2.81022636e-08;
    p = 3.43273939e-07 + p * w;
    p = -3.5233877e-06 + p * w;
    p = -4.39150654e-06 + p * w;
    p = 0.00021858087 + p * w;
    p = -0.00125372503 + p * w;
    p = -0.00417768164 + p * w;
    p = 0.246640727 + p * w;
    p = 1.50140941 + p * w;
  } else {
    w = sqrt(w) - 3.0;
    p = -0.000200214257;
    p = 0.000100950558 + p * w;
    p = 0.00134934322 + p * w;
    p = -0.00367342844 + p * w;
    p = 0.00573950773 + p * w;
    p = -0.0076224613 + p * w;
    p = 0.00943887047 + p * w;
    p = 1.00167406 + p * w;
    p = 2.83297682 + p * w;
  }
  return p * x;
}

fn truncated(bits: u32) -> f32 {
  let e = params.e_lo + params.e_span * u32_to_unit(bits);
  let z = 1.4142135623730951 * erfinv(e);
  return clamp(params.shift + params.scale * z, params.clamp_lo, params.clamp_hi);
}
#endif

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let g = flat_index(gid, nwg, WG);
  let base = g * 4u;
  if (base >= params.n) { return; }
  let r = philox_random(vec2u(params.seed_lo, params.seed_hi), params.stream, g);
#if ${kind === 'bits'}
  let v = r;
#elif ${kind === 'uniform'}
  let u = vec4f(u32_to_unit(r.x), u32_to_unit(r.y), u32_to_unit(r.z), u32_to_unit(r.w));
  let v = params.shift + params.scale * u;
#elif ${kind === 'normal'}
  let z = vec4f(box_muller(r.x, r.y), box_muller(r.z, r.w));
  let v = params.shift + params.scale * z;
#elif ${kind === 'truncated_normal'}
  let v = vec4f(truncated(r.x), truncated(r.y), truncated(r.z), truncated(r.w));
#endif
  out[base] = v.x;
  if (base + 1u < params.n) { out[base + 1u] = v.y; }
  if (base + 2u < params.n) { out[base + 2u] = v.z; }
  if (base + 3u < params.n) { out[base + 3u] = v.w; }
}
`;
}
