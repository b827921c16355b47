import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { attentionPreludeWGSL, HeadRows, perRow } from './lib/attention_rows.js';

/**
 * Causal self-attention backward, as FlashAttention-2: the probabilities are recomputed from q, k
 * and the forward's lse (P_ij = exp(s_ij − lse_i)), never stored. With D_i = Σ_d dO_id·O_id
 * (equal to Σ_j P_ij·dP_ij, the softmax Jacobian's inner product):
 *   dP_ij = dO_i·v_j,  dS_ij = P_ij (dP_ij − D_i),
 *   dq_i = scale·Σ_j dS_ij k_j,  dk_j = scale·Σ_i dS_ij q_i,  dv_j = Σ_i P_ij dO_i.
 * Each gradient row is summed by the one invocation that owns it, in a fixed order: no atomics,
 * the same bits on every run. Two kernels: one per query row (dq, and D for the second), one per
 * key row (dk, dv); an invocation owns RQ rows, staged or direct as the forward (see lib/attention_rows.ts).
 */

/**
 * dq, and D. An invocation owns query rows i0 … i0 + RQ − 1 and walks the keys up to its last.
 * Bindings: dy, qkv, y, lse, dqkv (q part written), D, params. Workgroups: [⌈T/(ROWS·RQ)⌉, H, B].
 */
export function causalAttentionQueryGradShader(dh: number, staged: boolean, block: number): string {
  const r = new HeadRows(dh);
  // Key j (k0…, v0… named) against each owned row; a row below j gets dS = 0.
  const keyStep = (pad: string) =>
    perRow(
      block,
      (k) => `{
${pad}  let s = ${r.dot((c) => `q${k}_${c}`, (c) => `k${c}`)};
${pad}  let dp = ${r.dot((c) => `g${k}_${c}`, (c) => `v${c}`)};
${pad}  let ds = select(0.0, exp(s - L${k}) * (dp - D${k}), j <= i0 + ${k}u);
${pad}  ${r.each((c) => `dq${k}_${c} += ds * k${c};`, `${pad}  `)}
${pad}}`,
      pad,
    );
  return wgsl`
@group(0) @binding(0) var<storage, read> dy: array<${r.elem}>;
@group(0) @binding(1) var<storage, read> qkv: array<${r.elem}>;
@group(0) @binding(2) var<storage, read> y: array<${r.elem}>;
@group(0) @binding(3) var<storage, read> lse: array<f32>;
@group(0) @binding(4) var<storage, read_write> dqkv: array<${r.elem}>;
@group(0) @binding(5) var<storage, read_write> dstat: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;
${attentionPreludeWGSL(r, staged, block)}
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
  let i0 = (wid.x * ROWS + lid) * RQ;
  let live = i0 < T;
  let last = min(i0 + RQ - 1u, T - 1u);
  ${perRow(block, (k) => `let qb${k} = qkv_at(b, min(i0 + ${k}u, T - 1u), h, 0u);\n  let ob${k} = out_at(b, min(i0 + ${k}u, T - 1u), h);`)}
  ${perRow(block, (k) => r.each((c) => `let q${k}_${c} = ${r.load('qkv', `qb${k}`, c)} * params.scale;`))}
  ${perRow(block, (k) => r.each((c) => `let g${k}_${c} = ${r.load('dy', `ob${k}`, c)};`))}
  ${perRow(block, (k) => r.each((c) => `var dq${k}_${c} = vec4f(0.0);`))}
  ${perRow(block, (k) => `let D${k} = ${r.dot((c) => `g${k}_${c}`, (c) => r.load('y', `ob${k}`, c))};`)}
  ${perRow(block, (k) => `let L${k} = lse[stat_at(b, h, min(i0 + ${k}u, T - 1u))];`)}
#if ${staged}
  let key_end = min(T, (wid.x * ROWS + ROWS) * RQ);
  for (var start = 0u; start < key_end; start += TILE) {
    let n = min(TILE, key_end - start);
    workgroupBarrier();
    for (var idx = lid; idx < n * DV; idx += ROWS) {
      let row = start + idx / DV;
      Ks[idx] = load_qkv(qkv_at(b, row, h, 1u), idx % DV);
      Vs[idx] = load_qkv(qkv_at(b, row, h, 2u), idx % DV);
    }
    workgroupBarrier();
    let visible = select(0u, min(n, last + 1u - start), live && last >= start);
    for (var t = 0u; t < visible; t++) {
      let j = start + t;
      let kb = t * DV;
      ${r.each((c) => `let k${c} = Ks[kb + ${c}u];`, '      ')}
      ${r.each((c) => `let v${c} = Vs[kb + ${c}u];`, '      ')}
      ${keyStep('      ')}
    }
  }
#else
  for (var j = 0u; j < select(0u, last + 1u, live); j++) {
    let kb = qkv_at(b, j, h, 1u);
    let vb = qkv_at(b, j, h, 2u);
    ${r.each((c) => `let k${c} = ${r.load('qkv', 'kb', c)};`, '    ')}
    ${r.each((c) => `let v${c} = ${r.load('qkv', 'vb', c)};`, '    ')}
    ${keyStep('    ')}
  }
#endif
  ${perRow(
    block,
    (k) => `if (i0 + ${k}u < T) {
    let db = qkv_at(b, i0 + ${k}u, h, 0u);
    ${r.each((c) => r.store('dqkv', 'db', c, `dq${k}_${c} * params.scale`), '    ')}
    dstat[stat_at(b, h, i0 + ${k}u)] = D${k};
  }`,
  )}
}
`;
}

/**
 * dk and dv. An invocation owns key rows j0 … j0 + RQ − 1 and walks the queries from j0 on
 * (earlier ones see none of its keys); q is staged or read already scaled, so dk = Σ dS·(scale·q)
 * needs no final scaling.
 * Bindings: dy, qkv, lse, D, dqkv (k and v parts written), params. Workgroups: [⌈T/(ROWS·RQ)⌉, H, B].
 */
export function causalAttentionKeyGradShader(dh: number, staged: boolean, block: number): string {
  const r = new HeadRows(dh);
  // Query i (q0…, g0…, L, D named) against each owned key row; a key after i gets P = 0.
  const queryStep = (pad: string) =>
    perRow(
      block,
      (k) => `{
${pad}  let s = ${r.dot((c) => `q${c}`, (c) => `k${k}_${c}`)};
${pad}  let dp = ${r.dot((c) => `g${c}`, (c) => `v${k}_${c}`)};
${pad}  let p = select(0.0, exp(s - L), i >= j0 + ${k}u);
${pad}  let ds = p * (dp - D);
${pad}  ${r.each((c) => `dv${k}_${c} += p * g${c};`, `${pad}  `)}
${pad}  ${r.each((c) => `dk${k}_${c} += ds * q${c};`, `${pad}  `)}
${pad}}`,
      pad,
    );
  return wgsl`
@group(0) @binding(0) var<storage, read> dy: array<${r.elem}>;
@group(0) @binding(1) var<storage, read> qkv: array<${r.elem}>;
@group(0) @binding(2) var<storage, read> lse: array<f32>;
@group(0) @binding(3) var<storage, read> dstat: array<f32>;
@group(0) @binding(4) var<storage, read_write> dqkv: array<${r.elem}>;
@group(0) @binding(5) var<uniform> params: Params;
${attentionPreludeWGSL(r, staged, block)}
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
  let j0 = (wid.x * ROWS + lid) * RQ;
  let live = j0 < T;
  ${perRow(block, (k) => `let kb${k} = qkv_at(b, min(j0 + ${k}u, T - 1u), h, 1u);\n  let vb${k} = qkv_at(b, min(j0 + ${k}u, T - 1u), h, 2u);`)}
  ${perRow(block, (k) => r.each((c) => `let k${k}_${c} = ${r.load('qkv', `kb${k}`, c)};`))}
  ${perRow(block, (k) => r.each((c) => `let v${k}_${c} = ${r.load('qkv', `vb${k}`, c)};`))}
  ${perRow(block, (k) => r.each((c) => `var dk${k}_${c} = vec4f(0.0);\n  var dv${k}_${c} = vec4f(0.0);`))}
#if ${staged}
  // Queries before the workgroup's first key see none of its keys: never loaded.
  for (var start = wid.x * ROWS * RQ; start < T; start += TILE) {
    let n = min(TILE, T - start);
    workgroupBarrier();
    for (var idx = lid; idx < n * DV; idx += ROWS) {
      let row = start + idx / DV;
      Qs[idx] = load_qkv(qkv_at(b, row, h, 0u), idx % DV) * params.scale;
      Gs[idx] = load_dy(out_at(b, row, h), idx % DV);
    }
    for (var t = lid; t < n; t += ROWS) {
      Ls[t] = lse[stat_at(b, h, start + t)];
      Ds[t] = dstat[stat_at(b, h, start + t)];
    }
    workgroupBarrier();
    // From this invocation's first key row on.
    let from_row = select(n, select(0u, j0 - start, j0 > start), live);
    for (var t = from_row; t < n; t++) {
      let i = start + t;
      let rb = t * DV;
      ${r.each((c) => `let q${c} = Qs[rb + ${c}u];`, '      ')}
      ${r.each((c) => `let g${c} = Gs[rb + ${c}u];`, '      ')}
      let L = Ls[t];
      let D = Ds[t];
      ${queryStep('      ')}
    }
  }
#else
  for (var i = j0; i < select(j0, T, live); i++) {
    let qb = qkv_at(b, i, h, 0u);
    let ob = out_at(b, i, h);
    ${r.each((c) => `let q${c} = ${r.load('qkv', 'qb', c)} * params.scale;`, '    ')}
    ${r.each((c) => `let g${c} = ${r.load('dy', 'ob', c)};`, '    ')}
    let L = lse[stat_at(b, h, i)];
    let D = dstat[stat_at(b, h, i)];
    ${queryStep('    ')}
  }
#endif
  ${perRow(
    block,
    (k) => `if (j0 + ${k}u < T) {
    let dkb = qkv_at(b, j0 + ${k}u, h, 1u);
    let dvb = qkv_at(b, j0 + ${k}u, h, 2u);
    ${r.each((c) => r.store('dqkv', 'dkb', c, `dk${k}_${c}`), '    ')}
    ${r.each((c) => r.store('dqkv', 'dvb', c, `dv${k}_${c}`), '    ')}
  }`,
  )}
}
`;
}
