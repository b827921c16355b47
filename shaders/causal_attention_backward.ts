import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { attentionPreludeWGSL, HeadRows, outdent } from './causal_attention.js';

/**
 * Causal self-attention backward, as FlashAttention-2: the probabilities are recomputed from q, k
 * and the forward's lse (P_ij = exp(s_ij − lse_i)), never stored. With D_i = Σ_d dO_id·O_id
 * (equal to Σ_j P_ij·dP_ij, the softmax Jacobian's inner product):
 *   dP_ij = dO_i·v_j,  dS_ij = P_ij (dP_ij − D_i),
 *   dq_i = scale·Σ_j dS_ij k_j,  dk_j = scale·Σ_i dS_ij q_i,  dv_j = Σ_i P_ij dO_i.
 * Each gradient row is summed by the one invocation that owns it, in a fixed order: no atomics,
 * the same bits on every run. Two kernels: one per query row (dq, and D for the second), one per
 * key row (dk, dv); staged or direct as the forward (see causal_attention.ts).
 */

/**
 * dq, and D. One invocation per query row i, over the keys j ≤ i.
 * Bindings: dy, qkv, y, lse, dqkv (q part written), D, params. Workgroups: [⌈T/ROWS⌉, H, B].
 */
export function causalAttentionQueryGradShader(dh: number, staged: boolean): string {
  const r = new HeadRows(dh);
  const keyStep = (key: (c: number) => string, value: (c: number) => string) => `
      ${r.each((c) => `let k${c} = ${key(c)};`, '      ')}
      let s = ${r.dot((c) => `q${c}`, (c) => `k${c}`)};
      let dp = ${r.dot((c) => `g${c}`, value)};
      let ds = exp(s - L) * (dp - D);
      ${r.each((c) => `dq${c} += ds * k${c};`, '      ')}`;
  return wgsl`
@group(0) @binding(0) var<storage, read> dy: array<${r.elem}>;
@group(0) @binding(1) var<storage, read> qkv: array<${r.elem}>;
@group(0) @binding(2) var<storage, read> y: array<${r.elem}>;
@group(0) @binding(3) var<storage, read> lse: array<f32>;
@group(0) @binding(4) var<storage, read_write> dqkv: array<${r.elem}>;
@group(0) @binding(5) var<storage, read_write> dstat: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;
${attentionPreludeWGSL(r, staged)}
#if ${staged}
${r.loaderFn('qkv')}
var<workgroup> Ks: array<vec4f, TILE_VECS>;
var<workgroup> Vs: array<vec4f, TILE_VECS>;
#endif

@compute @workgroup_size(ROWS)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let T = params.T;
  let h = wid.y;
  let b = wid.z;
  let i = wid.x * ROWS + lid;
  let live = i < T;
  let row = min(i, T - 1u);
  let qb = qkv_at(b, row, h, 0u);
  let ob = out_at(b, row, h);
  ${r.each((c) => `let q${c} = ${r.load('qkv', 'qb', c)} * params.scale;`)}
  ${r.each((c) => `let g${c} = ${r.load('dy', 'ob', c)};`)}
  ${r.each((c) => `var dq${c} = vec4f(0.0);`)}
  let D = ${r.dot((c) => `g${c}`, (c) => r.load('y', 'ob', c))};
  let L = lse[stat_at(b, h, row)];
#if ${staged}
  let key_end = min(T, wid.x * ROWS + ROWS);
  for (var k0 = 0u; k0 < key_end; k0 += TILE) {
    let n = min(TILE, key_end - k0);
    workgroupBarrier();
    for (var idx = lid; idx < n * DV; idx += ROWS) {
      let j = k0 + idx / DV;
      Ks[idx] = load_qkv(qkv_at(b, j, h, 1u), idx % DV);
      Vs[idx] = load_qkv(qkv_at(b, j, h, 2u), idx % DV);
    }
    workgroupBarrier();
    let visible = select(0u, min(n, i + 1u - k0), live && i >= k0);
    for (var t = 0u; t < visible; t++) {
      let kb = t * DV;${keyStep((c) => `Ks[kb + ${c}u]`, (c) => `Vs[kb + ${c}u]`)}
    }
  }
#else
  for (var j = 0u; j <= row; j++) {
    let kb = qkv_at(b, j, h, 1u);
    let vb = qkv_at(b, j, h, 2u);${outdent(keyStep((c) => r.load('qkv', 'kb', c), (c) => r.load('qkv', 'vb', c)))}
  }
#endif
  if (live) {
    let db = qkv_at(b, i, h, 0u);
    ${r.each((c) => r.store('dqkv', 'db', c, `dq${c} * params.scale`), '    ')}
    dstat[stat_at(b, h, i)] = D;
  }
}
`;
}

/**
 * dk and dv. One invocation per key row j, over the queries i ≥ j (earlier ones cannot see it);
 * q is staged or read already scaled, so dk = Σ dS·(scale·q) needs no final scaling.
 * Bindings: dy, qkv, lse, D, dqkv (k and v parts written), params. Workgroups: [⌈T/ROWS⌉, H, B].
 */
export function causalAttentionKeyGradShader(dh: number, staged: boolean): string {
  const r = new HeadRows(dh);
  const queryStep = (query: (c: number) => string, grad: (c: number) => string, lseOf: string, dOf: string) => `
      ${r.each((c) => `let q${c} = ${query(c)};`, '      ')}
      ${r.each((c) => `let g${c} = ${grad(c)};`, '      ')}
      let s = ${r.dot((c) => `q${c}`, (c) => `k${c}`)};
      let dp = ${r.dot((c) => `g${c}`, (c) => `v${c}`)};
      let p = exp(s - ${lseOf});
      let ds = p * (dp - ${dOf});
      ${r.each((c) => `dv${c} += p * g${c};`, '      ')}
      ${r.each((c) => `dk${c} += ds * q${c};`, '      ')}`;
  return wgsl`
@group(0) @binding(0) var<storage, read> dy: array<${r.elem}>;
@group(0) @binding(1) var<storage, read> qkv: array<${r.elem}>;
@group(0) @binding(2) var<storage, read> lse: array<f32>;
@group(0) @binding(3) var<storage, read> dstat: array<f32>;
@group(0) @binding(4) var<storage, read_write> dqkv: array<${r.elem}>;
@group(0) @binding(5) var<uniform> params: Params;
${attentionPreludeWGSL(r, staged)}
#if ${staged}
${r.loaderFn('qkv')}
${r.loaderFn('dy')}
var<workgroup> Qs: array<vec4f, TILE_VECS>;
var<workgroup> Gs: array<vec4f, TILE_VECS>;
var<workgroup> Ls: array<f32, TILE>;
var<workgroup> Ds: array<f32, TILE>;
#endif

@compute @workgroup_size(ROWS)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let T = params.T;
  let h = wid.y;
  let b = wid.z;
  let first = wid.x * ROWS;
  let j = first + lid;
  let live = j < T;
  let row = min(j, T - 1u);
  let kb = qkv_at(b, row, h, 1u);
  let vb = qkv_at(b, row, h, 2u);
  ${r.each((c) => `let k${c} = ${r.load('qkv', 'kb', c)};`)}
  ${r.each((c) => `let v${c} = ${r.load('qkv', 'vb', c)};`)}
  ${r.each((c) => `var dk${c} = vec4f(0.0);`)}
  ${r.each((c) => `var dv${c} = vec4f(0.0);`)}
#if ${staged}
  for (var q0 = first; q0 < T; q0 += TILE) {
    let n = min(TILE, T - q0);
    workgroupBarrier();
    for (var idx = lid; idx < n * DV; idx += ROWS) {
      let i = q0 + idx / DV;
      Qs[idx] = load_qkv(qkv_at(b, i, h, 0u), idx % DV) * params.scale;
      Gs[idx] = load_dy(out_at(b, i, h), idx % DV);
    }
    for (var t = lid; t < n; t += ROWS) {
      Ls[t] = lse[stat_at(b, h, q0 + t)];
      Ds[t] = dstat[stat_at(b, h, q0 + t)];
    }
    workgroupBarrier();
    // Causal mask: key j is seen by queries i ≥ j, i.e. from tile row j − q0 on.
    let from_row = select(n, select(0u, j - q0, j > q0), live);
    for (var t = from_row; t < n; t++) {
      let rb = t * DV;${queryStep((c) => `Qs[rb + ${c}u]`, (c) => `Gs[rb + ${c}u]`, 'Ls[t]', 'Ds[t]')}
    }
  }
#else
  for (var i = j; i < select(j, T, live); i++) {
    let qb = qkv_at(b, i, h, 0u);
    let ob = out_at(b, i, h);${outdent(queryStep((c) => `${r.load('qkv', 'qb', c)} * params.scale`, (c) => r.load('dy', 'ob', c), 'lse[stat_at(b, h, i)]', 'dstat[stat_at(b, h, i)]'))}
  }
#endif
  if (live) {
    let dkb = qkv_at(b, j, h, 1u);
    let dvb = qkv_at(b, j, h, 2u);
    ${r.each((c) => r.store('dqkv', 'dkb', c, `dk${c}`), '    ')}
    ${r.each((c) => r.store('dqkv', 'dvb', c, `dv${c}`), '    ')}
  }
}
`;
}
