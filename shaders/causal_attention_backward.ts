import { attentionPreludeWGSL } from './causal_attention.js';

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
var<workgroup> Ks: array<f32, TILE_ELEMS>;
var<workgroup> Vs: array<f32, TILE_ELEMS>;

@compute @workgroup_size(ROWS)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let T = params.T;
  let h = wid.y;
  let b = wid.z;
  let i = wid.x * ROWS + lid;
  let live = i < T;
  let row = min(i, T - 1u);
  var q: array<f32, DH>;
  var g: array<f32, DH>;
  var dq: array<f32, DH>;
  var D = 0.0;
  for (var d = 0u; d < DH; d++) {
    q[d] = qkv[qkv_at(b, row, h, 0u, d)] * params.scale;
    g[d] = dy[out_at(b, row, h, d)];
    D += g[d] * y[out_at(b, row, h, d)];
    dq[d] = 0.0;
  }
  let L = lse[stat_at(b, h, row)];
  let key_end = min(T, wid.x * ROWS + ROWS);
  for (var k0 = 0u; k0 < key_end; k0 += TILE) {
    let n = min(TILE, key_end - k0);
    workgroupBarrier();
    for (var idx = lid; idx < n * DH; idx += ROWS) {
      let j = idx / DH;
      let d = idx % DH;
      Ks[idx] = qkv[qkv_at(b, k0 + j, h, 1u, d)];
      Vs[idx] = qkv[qkv_at(b, k0 + j, h, 2u, d)];
    }
    workgroupBarrier();
    let visible = select(0u, min(n, i + 1u - k0), live && i >= k0);
    for (var j = 0u; j < visible; j++) {
      var s = 0.0;
      var dp = 0.0;
      for (var d = 0u; d < DH; d++) {
        s += q[d] * Ks[j * DH + d];
        dp += g[d] * Vs[j * DH + d];
      }
      let ds = exp(s - L) * (dp - D);
      for (var d = 0u; d < DH; d++) {
        dq[d] += ds * Ks[j * DH + d];
      }
    }
  }
  if (live) {
    for (var d = 0u; d < DH; d++) {
      dqkv[qkv_at(b, i, h, 0u, d)] = dq[d] * params.scale;
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
var<workgroup> Qs: array<f32, TILE_ELEMS>;
var<workgroup> Gs: array<f32, TILE_ELEMS>;
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
  var k: array<f32, DH>;
  var v: array<f32, DH>;
  var dk: array<f32, DH>;
  var dv: array<f32, DH>;
  for (var d = 0u; d < DH; d++) {
    k[d] = qkv[qkv_at(b, row, h, 1u, d)];
    v[d] = qkv[qkv_at(b, row, h, 2u, d)];
    dk[d] = 0.0;
    dv[d] = 0.0;
  }
  for (var q0 = first; q0 < T; q0 += TILE) {
    let n = min(TILE, T - q0);
    workgroupBarrier();
    for (var idx = lid; idx < n * DH; idx += ROWS) {
      let r = idx / DH;
      let d = idx % DH;
      Qs[idx] = qkv[qkv_at(b, q0 + r, h, 0u, d)] * params.scale;
      Gs[idx] = dy[out_at(b, q0 + r, h, d)];
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
      for (var d = 0u; d < DH; d++) {
        s += Qs[r * DH + d] * k[d];
        dp += Gs[r * DH + d] * v[d];
      }
      let p = exp(s - Ls[r]);
      let ds = p * (dp - Ds[r]);
      for (var d = 0u; d < DH; d++) {
        dv[d] += p * Gs[r * DH + d];
        dk[d] += ds * Qs[r * DH + d];
      }
    }
  }
  if (live) {
    for (var d = 0u; d < DH; d++) {
      dqkv[qkv_at(b, j, h, 1u, d)] = dk[d];
      dqkv[qkv_at(b, j, h, 2u, d)] = dv[d];
    }
  }
}
`;
}
