import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { attentionPreludeWGSL, HeadRows, perRow } from './lib/attention_rows.js';

/**
 * Causal self-attention forward, FlashAttention-style: an invocation owns RQ consecutive query
 * rows of one (batch, head) and walks the keys up to its last row once, each key read once for all
 * of them (register blocking: on CPU adapters loads, not arithmetic, bound this loop). Per row it
 * keeps only a running max m, a running sum l of exp(s − m) and the unnormalised output, rescaled
 * by exp(m_old − m_new) when the max grows. So the T×T scores never exist; the backward
 * recomputes them from q, k and lse = m + log l.
 *
 * Bindings: qkv, y, lse, params. Workgroups: [⌈T/(ROWS·RQ)⌉, H, B].
 */
export function causalAttentionShader(dh: number, staged: boolean, block: number): string {
  const r = new HeadRows(dh);
  // Key j (k0…, v0… named) against each owned row; a row below j masks it (weight exp(−huge) = 0).
  const keyStep = (pad: string) =>
    perRow(
      block,
      (k) => `{
${pad}  let s = select(-3.0e38, ${r.dot((c) => `q${k}_${c}`, (c) => `k${c}`)}, j <= i0 + ${k}u);
${pad}  if (s > m${k}) {
${pad}    let rescale = exp(m${k} - s);
${pad}    l${k} *= rescale;
${pad}    ${r.each((c) => `o${k}_${c} *= rescale;`, `${pad}    `)}
${pad}    m${k} = s;
${pad}  }
${pad}  let p = exp(s - m${k});
${pad}  l${k} += p;
${pad}  ${r.each((c) => `o${k}_${c} += p * v${c};`, `${pad}  `)}
${pad}}`,
      pad,
    );
  return wgsl`
@group(0) @binding(0) var<storage, read> qkv: array<${r.elem}>;
@group(0) @binding(1) var<storage, read_write> y: array<${r.elem}>;
@group(0) @binding(2) var<storage, read_write> lse: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
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
  // Rows i0 … i0 + RQ − 1, read clamped to the last token and written where they exist.
  let i0 = (wid.x * ROWS + lid) * RQ;
  let live = i0 < T;
  let last = min(i0 + RQ - 1u, T - 1u);
  ${perRow(block, (k) => `let qb${k} = qkv_at(b, min(i0 + ${k}u, T - 1u), h, 0u);`)}
  // The scale is folded into q once rather than into every score.
  ${perRow(block, (k) => r.each((c) => `let q${k}_${c} = ${r.load('qkv', `qb${k}`, c)} * params.scale;`))}
  ${perRow(block, (k) => r.each((c) => `var o${k}_${c} = vec4f(0.0);`))}
  // Any finite start works: key 0, seen by every row, replaces it with weight exp(−huge) = 0.
  ${perRow(block, (k) => `var m${k} = -3.0e38;\n  var l${k} = 0.0;`)}
#if ${staged}
  // Keys after the workgroup's last row are masked for all its rows: never loaded.
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
    let inv = 1.0 / l${k};
    let yb = out_at(b, i0 + ${k}u, h);
    ${r.each((c) => r.store('y', 'yb', c, `o${k}_${c} * inv`), '    ')}
    lse[stat_at(b, h, i0 + ${k}u)] = m${k} + log(l${k});
  }`,
  )}
}
`;
}
