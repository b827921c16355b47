/**
 * Shared by the forward and backward attention kernels: the packed layout, row loaders and stores.
 *
 * qkv is [B, T, 3·E] with E = H·DH, exactly a fused `qkv` Linear's output (torch layout: q, k, v
 * stacked along the features, head h at columns h·DH … h·DH + DH − 1 of each), so no kernel splits
 * or transposes heads. y and dy are [B, T, E], ready for the `proj` Linear; lse and D are [B, H, T].
 *
 * A head row is held as DV = ⌈DH/4⌉ vec4s, zero past DH, so dot products and updates take a
 * quarter of the loop trips (on CPU adapters a vec4 op costs about one scalar op) and zero lanes
 * add nothing. DH is a WGSL const, not an override: it sizes per-invocation arrays (a query row,
 * its accumulator), and WGSL allows only const-sized arrays outside workgroup memory. ROWS (rows
 * owned per workgroup, one invocation each, so also the workgroup size) and TILE (rows of the other
 * operand staged in workgroup memory per step) are overrides.
 */
export function attentionPreludeWGSL(dh: number): string {
  return `
const DH = ${dh}u;
const DV = ${Math.ceil(dh / 4)}u;
override ROWS: u32 = 32;
override TILE: u32 = 32;
override TILE_VECS: u32 = TILE * DV;
struct Params { T: u32, H: u32, scale: f32 }

// Flat index of element 0 of the q (part 0), k (1) or v (2) row of token t, head h, batch b.
fn qkv_at(b: u32, t: u32, h: u32, part: u32) -> u32 {
  let e = params.H * DH;
  return (b * params.T + t) * 3u * e + part * e + h * DH;
}

// Flat index of element 0 of token t, head h in a [B, T, E] tensor (y, dy).
fn out_at(b: u32, t: u32, h: u32) -> u32 {
  return (b * params.T + t) * params.H * DH + h * DH;
}

// Flat index of a per-row statistic in [B, H, T] (lse, D).
fn stat_at(b: u32, h: u32, t: u32) -> u32 {
  return (b * params.H + h) * params.T + t;
}
`;
}

/** `fn load_<name>(base, c) -> vec4f`: elements 4c … 4c + 3 of the row at `base`, zero past DH. */
export function rowLoaderWGSL(name: string): string {
  return `
fn load_${name}(base: u32, c: u32) -> vec4f {
  var r = vec4f(0.0);
  for (var k = 0u; k < 4u; k++) {
    if (c * 4u + k < DH) {
      r[k] = ${name}[base + c * 4u + k];
    }
  }
  return r;
}
`;
}

/** `fn store_<name>(base, c, v)`: the first DH − 4c of v's lanes into the row at `base`. */
export function rowStoreWGSL(name: string): string {
  return `
fn store_${name}(base: u32, c: u32, v: vec4f) {
  for (var k = 0u; k < 4u; k++) {
    if (c * 4u + k < DH) {
      ${name}[base + c * 4u + k] = v[k];
    }
  }
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
${rowLoaderWGSL('qkv')}
${rowStoreWGSL('y')}
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
  // The scale is folded into q once rather than into every score.
  var q: array<vec4f, DV>;
  var o: array<vec4f, DV>;
  for (var c = 0u; c < DV; c++) {
    q[c] = load_qkv(qkv_at(b, row, h, 0u), c) * params.scale;
    o[c] = vec4f(0.0);
  }
  // Any finite start works: the first key (always unmasked) replaces it with weight exp(−huge) = 0.
  var m = -3.0e38;
  var l = 0.0;
  // Keys after the tile's last query row are masked for every row here: never loaded.
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
    // Causal mask: row i sees keys j ≤ i, i.e. the first i + 1 − k0 of this tile.
    let visible = select(0u, min(n, i + 1u - k0), live && i >= k0);
    for (var j = 0u; j < visible; j++) {
      var s = 0.0;
      for (var c = 0u; c < DV; c++) {
        s += dot(q[c], Ks[j * DV + c]);
      }
      if (s > m) {
        let r = exp(m - s);
        l *= r;
        for (var c = 0u; c < DV; c++) {
          o[c] *= r;
        }
        m = s;
      }
      let p = exp(s - m);
      l += p;
      for (var c = 0u; c < DV; c++) {
        o[c] += p * Vs[j * DV + c];
      }
    }
  }
  if (live) {
    let inv = 1.0 / l;
    for (var c = 0u; c < DV; c++) {
      store_y(out_at(b, i, h), c, o[c] * inv);
    }
    lse[stat_at(b, h, i)] = m + log(l);
  }
}
`;
}
