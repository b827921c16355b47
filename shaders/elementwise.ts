import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { flatIndexWGSL } from './lib/indexing.js';

export type BinaryOp = 'add' | 'sub' | 'mul';

/**
 * y = a (op) b, where b is broadcast: a is viewed as [outer, mid, inner] and b as [mid], so
 * b's element for y[i] is b[(i / inner) % mid]. Same shapes are mid = n; a bias [C] over [N, C]
 * is inner = 1; a per-channel [C] over [N, C, H, W] is inner = H * W.
 */
export function binaryShader(op: BinaryOp): string {
  return wgsl`
${flatIndexWGSL}
override WG: u32 = 256;
struct Params { n: u32, mid: u32, inner: u32 }
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg, WG);
  if (i >= params.n) { return; }
  let bv = b[(i / params.inner) % params.mid];
#if ${op === 'add'}
  y[i] = a[i] + bv;
#elif ${op === 'sub'}
  y[i] = a[i] - bv;
#elif ${op === 'mul'}
  y[i] = a[i] * bv;
#endif
}
`;
}

/** y = x * s + t with scalars s, t from the uniform (its backward is dx = dy * s, the same kernel with t = 0). */
export function scaleShader(): string {
  return /* wgsl */ `
${flatIndexWGSL}
override WG: u32 = 256;
struct Params { n: u32, s: f32, t: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg, WG);
  if (i >= params.n) { return; }
  y[i] = x[i] * params.s + params.t;
}
`;
}

/**
 * where(cond, a, b): a where cond != 0, else b; cond is a u32 or f32 mask.
 * backward: da = cond ? dy : 0 and db = cond ? 0 : dy, since each output depends on one branch only.
 */
export function whereShader(cond: 'u32' | 'f32', direction: 'forward' | 'backward'): string {
  const backward = direction === 'backward';
  return wgsl`
${flatIndexWGSL}
override WG: u32 = 256;
struct Params { n: u32 }
#if ${cond === 'u32'}
@group(0) @binding(0) var<storage, read> cond: array<u32>;
fn taken(i: u32) -> bool { return cond[i] != 0u; }
#else
@group(0) @binding(0) var<storage, read> cond: array<f32>;
fn taken(i: u32) -> bool { return cond[i] != 0.0; }
#endif
#if ${backward}
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> da: array<f32>;
@group(0) @binding(3) var<storage, read_write> db: array<f32>;
#else
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
#endif
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg, WG);
  if (i >= params.n) { return; }
  let c = taken(i);
#if ${backward}
  let g = dy[i];
  da[i] = select(0.0, g, c);
  db[i] = select(g, 0.0, c);
#else
  y[i] = select(b[i], a[i], c);
#endif
}
`;
}
