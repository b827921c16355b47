/**
 * Shared by the forward and backward attention kernels: the packed layout and the tile staging.
 *
 * qkv is [B, T, 3·E] with E = H·DH, exactly a fused `qkv` Linear's output (torch layout: q, k, v
 * stacked along the features, head h at columns h·DH … h·DH + DH − 1 of each), so no kernel splits
 * or transposes heads. y and dy are [B, T, E], ready for the `proj` Linear; lse and D are [B, H, T].
 *
 * DH is a WGSL const, not an override: it sizes per-invocation arrays (a query row, its output
 * accumulator), and WGSL allows only const-sized arrays outside workgroup memory. ROWS (rows owned
 * per workgroup, one invocation each, so also the workgroup size) and TILE (rows of the other
 * operand staged in workgroup memory per step) are overrides.
 */
export function attentionPreludeWGSL(dh: number): string {
  return `
const DH = ${dh}u;
override ROWS: u32 = 32;
override TILE: u32 = 32;
override TILE_ELEMS: u32 = TILE * DH;
struct Params { T: u32, H: u32, scale: f32 }

// Flat index of element d of the q (part 0), k (1) or v (2) row of token t, head h, batch b.
fn qkv_at(b: u32, t: u32, h: u32, part: u32, d: u32) -> u32 {
  let e = params.H * DH;
  return (b * params.T + t) * 3u * e + part * e + h * DH + d;
}

// Flat index of element d of token t, head h in a [B, T, E] tensor (y, dy).
fn out_at(b: u32, t: u32, h: u32, d: u32) -> u32 {
  return (b * params.T + t) * params.H * DH + h * DH + d;
}

// Flat index of a per-row statistic in [B, H, T] (lse, D).
fn stat_at(b: u32, h: u32, t: u32) -> u32 {
  return (b * params.H + h) * params.T + t;
}
`;
}

/**
 * Causal self-attention forward, FlashAttention-style: a workgroup owns ROWS query rows of one
 * (batch, head), one invocation per row; it walks the keys up to its last row in tiles of TILE,
 * staging K and V in workgroup memory, and keeps per row only a running max m, a running sum l of
 * exp(s − m) and the unnormalised output, rescaled by exp(m_old − m_new) when the max grows. So
 * the T×T scores never exist; the backward recomputes them from q, k and lse = m + log l.
 *
 * Bindings: qkv, y, lse, params. Workgroups: [⌈T/ROWS⌉, H, B].
 */
export function causalAttentionShader(dh: number): string {
  return `
@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> lse: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
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
  // The scale is folded into q once rather than into every score.
  var q: array<f32, DH>;
  var o: array<f32, DH>;
  for (var d = 0u; d < DH; d++) {
    q[d] = qkv[qkv_at(b, row, h, 0u, d)] * params.scale;
    o[d] = 0.0;
  }
  // Any finite start works: the first key (always unmasked) replaces it with weight exp(−huge) = 0.
  var m = -3.0e38;
  var l = 0.0;
  // Keys after the tile's last query row are masked for every row here: never loaded.
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
    // Causal mask: row i sees keys j ≤ i, i.e. the first i + 1 − k0 of this tile.
    let visible = select(0u, min(n, i + 1u - k0), live && i >= k0);
    for (var j = 0u; j < visible; j++) {
      var s = 0.0;
      for (var d = 0u; d < DH; d++) {
        s += q[d] * Ks[j * DH + d];
      }
      if (s > m) {
        let c = exp(m - s);
        l *= c;
        for (var d = 0u; d < DH; d++) {
          o[d] *= c;
        }
        m = s;
      }
      let p = exp(s - m);
      l += p;
      for (var d = 0u; d < DH; d++) {
        o[d] += p * Vs[j * DH + d];
      }
    }
  }
  if (live) {
    let inv = 1.0 / l;
    for (var d = 0u; d < DH; d++) {
      y[out_at(b, i, h, d)] = o[d] * inv;
    }
    lse[stat_at(b, h, i)] = m + log(l);
  }
}
`;
}
