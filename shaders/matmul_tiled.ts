import {
  accumulatorsWGSL,
  batchSetupWGSL,
  bindingsWGSL,
  epilogueWGSL,
  guardedLoadersWGSL,
  kStepWGSL,
  paramsWGSL,
  storeBlockWGSL,
  type MatmulShaderOptions,
} from './matmul.js';

/**
 * Workgroup-tiled matmul: a (WG_Y·TM)×(WG_X·TN) tile of C per workgroup; per K step of BK the
 * workgroup stages A and B tiles in workgroup memory, from which each invocation reads its TM×TN
 * register block's operands as whole vec4s. This is what GPUs reward
 * (operands reused WG_X or WG_Y times from on-chip memory); on CPU adapters the barriers dominate.
 * Tiles are filled with vec4 loads along each operand's contiguous axis (Bᵀ rows along K) where
 * alignment allows, zero-filled past the edges, so no edge case reaches the inner loop.
 */
export function matmulTiledShader(o: MatmulShaderOptions, tm: number, tn: number, bk: number): string {
  if (tm % 4 !== 0 || tn % 4 !== 0 || bk % 4 !== 0) {
    throw new Error(`matmul tile block ${tm}×${tn}, K step ${bk}: all must be multiples of 4`);
  }
  // Tiles keep each operand's stored layout (vec4 along its contiguous axis), so filling them is
  // one vec4 copy per slot: A tile BM×BK (A) or BK×BM (Aᵀ), B tile BK×BN (B) or BN×BK (Bᵀ).
  const fillA = o.transA
    ? 'load_a_zero(abase, k0 + i / QM, mt + 4u * (i % QM), k_end, params.M)'
    : 'load_a_zero(abase, mt + i / QK, k0 + 4u * (i % QK), params.M, k_end)';
  const fillB = o.transB
    ? 'load_b_zero(bbase, nt + i / QK, k0 + 4u * (i % QK), params.N, k_end)'
    : 'load_b_zero(bbase, k0 + i / QN, nt + 4u * (i % QN), k_end, params.N)';

  const inner: string[] = [];
  for (let q = 0; q < bk / 4; q++) {
    inner.push('    {');
    const step = kStepWGSL(o, tm, tn, {
      aRow: (r) => `As[(lid.y * ${tm}u + ${r}u) * QK + ${q}u]`,
      aCol: (j, g) => `As[${4 * q + j}u * QM + lid.y * ${tm / 4}u + ${g}u]`,
      bRow: (j, c) => `Bs[${4 * q + j}u * QN + lid.x * ${tn / 4}u + ${c}u]`,
      bCol: (n) => `Bs[(lid.x * ${tn}u + ${n}u) * QK + ${q}u]`,
    });
    for (const line of step) inner.push(`      ${line}`);
    inner.push('    }');
  }

  // The invocations whose block starts at column 0 own the row sums (see MatmulShaderOptions.rowSum).
  const first = o.rowSum ? '\n  let first = wid.x == 0u && lid.x == 0u;' : '';

  return `${paramsWGSL}
${bindingsWGSL(o)}
${guardedLoadersWGSL(o)}
${epilogueWGSL(o)}
override WG_X: u32 = 16;
override WG_Y: u32 = 16;
const BK = ${bk}u;
const QK = ${bk / 4}u;
// Tile widths in vec4s: BM / 4 and BN / 4.
override QM: u32 = WG_Y * ${tm / 4}u;
override QN: u32 = WG_X * ${tn / 4}u;
override TILE_A: u32 = BK * QM;
override TILE_B: u32 = BK * QN;
var<workgroup> As: array<vec4f, TILE_A>;
var<workgroup> Bs: array<vec4f, TILE_B>;

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let mt = wid.y * QM * 4u;
  let nt = wid.x * QN * 4u;
  let z = wid.z;
${batchSetupWGSL}${first}
${accumulatorsWGSL(o, tm, tn)}
  let threads = WG_X * WG_Y;
  for (var k0 = k_begin; k0 < k_end; k0 += BK) {
    for (var i = li; i < TILE_A; i += threads) {
      As[i] = ${fillA};
    }
    for (var i = li; i < TILE_B; i += threads) {
      Bs[i] = ${fillB};
    }
    workgroupBarrier();
${inner.join('\n')}
    workgroupBarrier();
  }
  let m0 = mt + lid.y * ${tm}u;
  let n0 = nt + lid.x * ${tn}u;
${storeBlockWGSL(o, tm, tn)}
}
`;
}
