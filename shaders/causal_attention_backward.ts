import { attentionPreludeWGSL, rowLoaderWGSL, rowStoreWGSL } from './causal_attention.js';

/**
 * Causal self-attention backward, as FlashAttention-2: the probabilities are recomputed from q, k
 * and the forward's lse (P_ij = exp(s_ij − lse_i)), never stored. With D_i = Σ_d dO_id·O_id
 * (equal to Σ_j P_ij·dP_ij, the softmax Jacobian's inner product):
 *   dP_ij = dO_i·v_j,  dS_ij = P_ij (dP_ij − D_i),
 *   dq_i = scale·Σ_j dS_ij k_j,  dk_j = scale·Σ_i dS_ij q_i,  dv_j = Σ_i P_ij dO_i.
 * Each gradient row is summed by the one invocation that owns it, in a fixed order: no atomics,
 * the same bits on every run. Two kernels: one per query row (dq, and D for the second), one per
 * key row (dk, dv), each staging the other side's rows in workgroup memory TILE at a time.
 */

/**
 * dq, and D. A workgroup owns ROWS query rows; it stages k and v of the keys up to its last row.
 * Bindings: dy, qkv, y, lse, dqkv (q part written), D, params. Workgroups: [⌈T/ROWS⌉, H, B].
 */
export function causalAttentionQueryGradShader(dh: number): string {
  return `
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> lse: array<f32>;
@group(0) @binding(4) var<storage, read_write> dqkv: array<f32>;
@group(0) @binding(5) var<storage, read_write> dstat: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;
${attentionPreludeWGSL(dh)}
${rowLoaderWGSL('qkv')}
${rowLoaderWGSL('dy')}
${rowLoaderWGSL('y')}
${rowStoreWGSL('dqkv')}
var<workgroup> Ks: array<vec4f, TILE_VECS>;
var<workgroup> Vs: array<vec4f, TILE_VECS>;

@compute @workgroup_size(ROWS)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let T = params.T;
  let h = wid.y;
  let b = wid.z;
  let i = wid.x * ROWS + lid;
  let live = i < T;
  let row = min(i, T - 1u);
  var q: array<vec4f, DV>;
  var g: array<vec4f, DV>;
  var dq: array<vec4f, DV>;
  var D = 0.0;
  for (var c = 0u; c < DV; c++) {
    q[c] = load_qkv(qkv_at(b, row, h, 0u), c) * params.scale;
    g[c] = load_dy(out_at(b, row, h), c);
    D += dot(g[c], load_y(out_at(b, row, h), c));
    dq[c] = vec4f(0.0);
  }
  let L = lse[stat_at(b, h, row)];
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
    for (var j = 0u; j < visible; j++) {
      var s = 0.0;
      var dp = 0.0;
      for (var c = 0u; c < DV; c++) {
        s += dot(q[c], Ks[j * DV + c]);
        dp += dot(g[c], Vs[j * DV + c]);
      }
      let ds = exp(s - L) * (dp - D);
      for (var c = 0u; c < DV; c++) {
        dq[c] += ds * Ks[j * DV + c];
      }
    }
  }
  if (live) {
    for (var c = 0u; c < DV; c++) {
      store_dqkv(qkv_at(b, i, h, 0u), c, dq[c] * params.scale);
    }
    dstat[stat_at(b, h, i)] = D;
  }
}
`;
}

/**
 * dk and dv. A workgroup owns ROWS key rows; it stages q (scaled), dO, lse and D of the query rows
 * from its first key onwards (earlier queries cannot see these keys).
 * Bindings: dy, qkv, lse, D, dqkv (k and v parts written), params. Workgroups: [⌈T/ROWS⌉, H, B].
 */
export function causalAttentionKeyGradShader(dh: number): string {
  return `
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> lse: array<f32>;
@group(0) @binding(3) var<storage, read> dstat: array<f32>;
@group(0) @binding(4) var<storage, read_write> dqkv: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;
${attentionPreludeWGSL(dh)}
${rowLoaderWGSL('qkv')}
${rowLoaderWGSL('dy')}
${rowStoreWGSL('dqkv')}
var<workgroup> Qs: array<vec4f, TILE_VECS>;
var<workgroup> Gs: array<vec4f, TILE_VECS>;
var<workgroup> Ls: array<f32, TILE>;
var<workgroup> Ds: array<f32, TILE>;

@compute @workgroup_size(ROWS)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let T = params.T;
  let h = wid.y;
  let b = wid.z;
  let first = wid.x * ROWS;
  let j = first + lid;
  let live = j < T;
  let row = min(j, T - 1u);
  var k: array<vec4f, DV>;
  var v: array<vec4f, DV>;
  var dk: array<vec4f, DV>;
  var dv: array<vec4f, DV>;
  for (var c = 0u; c < DV; c++) {
    k[c] = load_qkv(qkv_at(b, row, h, 1u), c);
    v[c] = load_qkv(qkv_at(b, row, h, 2u), c);
    dk[c] = vec4f(0.0);
    dv[c] = vec4f(0.0);
  }
  for (var q0 = first; q0 < T; q0 += TILE) {
    let n = min(TILE, T - q0);
    workgroupBarrier();
    for (var idx = lid; idx < n * DV; idx += ROWS) {
      let i = q0 + idx / DV;
      Qs[idx] = load_qkv(qkv_at(b, i, h, 0u), idx % DV) * params.scale;
      Gs[idx] = load_dy(out_at(b, i, h), idx % DV);
    }
    for (var r = lid; r < n; r += ROWS) {
      Ls[r] = lse[stat_at(b, h, q0 + r)];
      Ds[r] = dstat[stat_at(b, h, q0 + r)];
    }
    workgroupBarrier();
    // Causal mask: key j is seen by queries i ≥ j, i.e. from tile row j − q0 on.
    let from_row = select(n, select(0u, j - q0, j > q0), live);
    for (var r = from_row; r < n; r++) {
      var s = 0.0;
      var dp = 0.0;
      for (var c = 0u; c < DV; c++) {
        s += dot(Qs[r * DV + c], k[c]);
        dp += dot(Gs[r * DV + c], v[c]);
      }
      let p = exp(s - Ls[r]);
      let ds = p * (dp - Ds[r]);
      for (var c = 0u; c < DV; c++) {
        dv[c] += p * Gs[r * DV + c];
        dk[c] += ds * Qs[r * DV + c];
      }
    }
  }
  if (live) {
    for (var c = 0u; c < DV; c++) {
      store_dqkv(qkv_at(b, j, h, 1u), c, dk[c]);
      store_dqkv(qkv_at(b, j, h, 2u), c, dv[c]);
    }
  }
}
`;
}
