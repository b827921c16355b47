import {
  COMPONENTS,
  accumulatorsWGSL,
  batchSetupWGSL,
  bindingsWGSL,
  epilogueWGSL,
  guardedLoadersWGSL,
  paramsWGSL,
  storeBlockWGSL,
  type MatmulShaderOptions,
} from './matmul.js';

/**
 * Workgroup-tiled matmul: a (WG_Y·TM)×(WG_X·TN) tile of C per workgroup; per K step of BK the
 * workgroup stages op(A) and op(B) tiles in workgroup memory, k-major as vec4 along M and N, so each
 * invocation reads its TM×TN register block's operands as whole vec4s. This is what GPUs reward
 * (operands reused WG_X or WG_Y times from on-chip memory); on CPU adapters the barriers dominate.
 * Tiles are filled with vec4 loads along each operand's contiguous axis (Bᵀ rows along K) where
 * alignment allows, zero-filled past the edges, so no edge case reaches the inner loop.
 */
export function matmulTiledShader(o: MatmulShaderOptions, tm: number, tn: number, bk: number): string {
  if (tm % 4 !== 0 || tn % 4 !== 0 || bk % 4 !== 0) {
    throw new Error(`matmul tile block ${tm}×${tn}, K step ${bk}: all must be multiples of 4`);
  }
  const scatter = (tile: string, stride: string, rowVar: string) =>
    [0, 1, 2, 3].map((t) => `      ${tile}[(4u * q + ${t}u) * ${stride} + ${rowVar} / 4u][${rowVar} % 4u] = v.${COMPONENTS[t]};`).join('\n');

  // Fill of the A tile (BK × BM, k-major): along K when A is stored M×K, along M when stored K×M.
  const loadA = o.transA
    ? `      let r = i / QM;
      let q = i % QM;
      As[r * QM + q] = load_a_zero(abase, k0 + r, mt + 4u * q, k_end, params.M);`
    : `      let r = i / QK;
      let q = i % QK;
      let v = load_a_zero(abase, mt + r, k0 + 4u * q, params.M, k_end);
${scatter('As', 'QM', 'r')}`;
  const loadB = o.transB
    ? `      let r = i / QK;
      let q = i % QK;
      let v = load_b_zero(bbase, nt + r, k0 + 4u * q, params.N, k_end);
${scatter('Bs', 'QN', 'r')}`
    : `      let r = i / QN;
      let q = i % QN;
      Bs[r * QN + q] = load_b_zero(bbase, k0 + r, nt + 4u * q, k_end, params.N);`;

  const inner: string[] = [];
  for (let kk = 0; kk < bk; kk++) {
    inner.push('    {');
    for (let g = 0; g < tm / 4; g++) inner.push(`      let a_${g} = As[${kk}u * QM + lid.y * ${tm / 4}u + ${g}u];`);
    for (let c = 0; c < tn / 4; c++) inner.push(`      let b_${c} = Bs[${kk}u * QN + lid.x * ${tn / 4}u + ${c}u];`);
    for (let r = 0; r < tm; r++) {
      for (let c = 0; c < tn / 4; c++) inner.push(`      acc_${r}_${c} += a_${r >> 2}.${COMPONENTS[r & 3]} * b_${c};`);
    }
    inner.push('    }');
  }

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
${batchSetupWGSL}
${accumulatorsWGSL(tm, tn)}
  let threads = WG_X * WG_Y;
  for (var k0 = k_begin; k0 < k_end; k0 += BK) {
    for (var i = li; i < TILE_A; i += threads) {
${loadA}
    }
    for (var i = li; i < TILE_B; i += threads) {
${loadB}
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
