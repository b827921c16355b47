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
import { doubleBufferedLoopWGSL, doubleBufferedTilesWGSL } from './lib/double_buffer.js';

/**
 * Double-buffered workgroup-tiled matmul for GPUs: a (WG_Y·TM)×(WG_X·TN) tile of C per workgroup,
 * each invocation a TM×TN register block (8×8 on GPUs: 64 products per pair of operand vec4 reads).
 * Each operand has two K-step tiles in workgroup memory: while the workgroup multiplies from one,
 * it fills the other with the next K step's vec4 loads, so one barrier per step separates the
 * writes from the reads instead of the two a single tile needs, and the global loads of step s + 1
 * are in flight during the arithmetic of step s. Tiles are zero-filled past the matrix edges (any M,
 * N, K, either operand transposed); the epilogue, row sums and split-K chunks are those of the
 * other matmul kernels. TM, TN and BK shape the generated code; the workgroup size is an override.
 */
export function matmulDoubleBufferedShader(o: MatmulShaderOptions, tm: number, tn: number, bk: number): string {
  if (tm % 4 !== 0 || tn % 4 !== 0 || bk % 4 !== 0) {
    throw new Error(`matmul double-buffered block ${tm}×${tn}, K step ${bk}: all must be multiples of 4`);
  }
  // Tiles keep each operand's stored layout (vec4 along its contiguous axis): A tile BM×BK (A) or
  // BK×BM (Aᵀ), B tile BK×BN (B) or BN×BK (Bᵀ). `k` is the K step being staged.
  const fillA = (k: string) =>
    o.transA
      ? `load_a_zero(abase, ${k} + i / QM, mt + 4u * (i % QM), k_end, params.M)`
      : `load_a_zero(abase, mt + i / QK, ${k} + 4u * (i % QK), params.M, k_end)`;
  const fillB = (k: string) =>
    o.transB
      ? `load_b_zero(bbase, nt + i / QK, ${k} + 4u * (i % QK), params.N, k_end)`
      : `load_b_zero(bbase, ${k} + i / QN, nt + 4u * (i % QN), k_end, params.N)`;
  const fill = (k: string, a: string, b: string, indent: string) =>
    [
      `for (var i = li; i < TILE_A; i += threads) { As[${a} + i] = ${fillA(k)}; }`,
      `for (var i = li; i < TILE_B; i += threads) { Bs[${b} + i] = ${fillB(k)}; }`,
    ]
      .map((l) => `${indent}${l}`)
      .join('\n');

  const inner: string[] = [];
  for (let q = 0; q < bk / 4; q++) {
    inner.push('    {');
    const step = kStepWGSL(o, tm, tn, {
      aRow: (r) => `As[oa + (lid.y * ${tm}u + ${r}u) * QK + ${q}u]`,
      aCol: (j, g) => `As[oa + ${4 * q + j}u * QM + lid.y * ${tm / 4}u + ${g}u]`,
      bRow: (j, c) => `Bs[ob + ${4 * q + j}u * QN + lid.x * ${tn / 4}u + ${c}u]`,
      bCol: (n) => `Bs[ob + (lid.x * ${tn}u + ${n}u) * QK + ${q}u]`,
    });
    for (const line of step) inner.push(`      ${line}`);
    inner.push('    }');
  }

  // The invocations whose block starts at column 0 own the row sums (see MatmulShaderOptions.rowSum).
  const first = o.rowSum ? '\n  let first = wid.x == 0u && lid.x == 0u;' : '';
  const loop = doubleBufferedLoopWGSL({
    operands: ['A', 'B'],
    offsets: ['oa', 'ob'],
    begin: 'k_begin',
    end: 'k_end',
    next: 'k0 + BK',
    fill,
    step: inner.join('\n'),
  });

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
${doubleBufferedTilesWGSL(['A', 'B'])}

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let mt = wid.y * QM * 4u;
  let nt = wid.x * QN * 4u;
  let z = wid.z;
${batchSetupWGSL}${first}
${accumulatorsWGSL(o, tm, tn)}
  let threads = WG_X * WG_Y;
${loop}
  let m0 = mt + lid.y * ${tm}u;
  let n0 = nt + lid.x * ${tn}u;
${storeBlockWGSL(o, tm, tn)}
}
`;
}
