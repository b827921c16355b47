import { kStepWGSL, type MatmulShaderOptions } from './matmul.js';
import {
  LANES as lanes,
  checkRegisterBlock,
  clampedColumnsWGSL,
  registerBlockDeclarationsWGSL,
  registerBlockMainWGSL,
  vec4,
} from './lib/register_block.js';

/**
 * Register-blocked matmul without workgroup memory: each invocation owns a TM×TN block of C held in
 * named vec4f accumulators (acc_r_c covers row r, columns 4c..4c+3), steps K by 4 and writes every
 * product out. On CPU adapters (SwiftShader) this is ~10× faster than a workgroup-tiled kernel:
 * barriers are costly there and private arrays indexed by loop counters leave registers. TM and TN
 * are multiples of 4 and shape the generated code; the workgroup size is an override.
 */
export function matmulRegistersShader(o: MatmulShaderOptions, tm: number, tn: number): string {
  checkRegisterBlock('register', tm, tn);
  const groupsM = tm / 4;
  const groupsN = tn / 4;
  // Row offsets j·M (Aᵀ) or j·N (B) of the four k of a step; the first is 0.
  const plus = (prefix: string, j: number) => (j === 0 ? '' : ` + ${prefix}_${j}`);

  // Everything that does not change along K is computed once: row starts, and operand columns
  // clamped into the matrix (lanes past an edge read the last row or column and are never stored).
  // Operands stepping along their rows with k keep a running offset (ka, kb) instead of multiplying.
  const setup: string[] = [];
  const advance: string[] = [];
  const advanceTail: string[] = [];
  let aRow = (_r: number) => '';
  let aCol = (_j: number, _g: number) => '';
  let aTail = (_r: number) => '';
  if (o.transA) {
    setup.push('  var ka = abase + k_begin * M;', '  let sa_1 = M;', '  let sa_2 = 2u * M;', '  let sa_3 = 3u * M;');
    advance.push('ka += 4u * M;');
    advanceTail.push('ka += M;');
    setup.push(...clampedColumnsWGSL('a', groupsM, o.vecA));
    aCol = o.vecA
      ? (j, g) => `A[(ka${plus('sa', j)} + ca_${g}) / 4u]`
      : (j, g) => vec4(lanes.map((t) => `A[ka${plus('sa', j)} + ca_${g}_${t}]`));
  } else {
    for (let r = 0; r < tm; r++) setup.push(`  let ia_${r} = abase + min(m0 + ${r}u, M - 1u) * K;`);
    aRow = o.vecA ? (r) => `A[(ia_${r} + k) / 4u]` : (r) => vec4(lanes.map((t) => `A[ia_${r} + k${t ? ` + ${t}u` : ''}]`));
    aTail = (r) => `A[ia_${r} + k]`;
  }
  let bRow = (_j: number, _c: number) => '';
  let bCol = (_n: number) => '';
  if (o.transB) {
    for (let n = 0; n < tn; n++) setup.push(`  let ib_${n} = bbase + min(n0 + ${n}u, N - 1u) * K;`);
    bCol = o.vecB ? (n) => `B[(ib_${n} + k) / 4u]` : (n) => vec4(lanes.map((t) => `B[ib_${n} + k${t ? ` + ${t}u` : ''}]`));
  } else {
    setup.push('  var kb = bbase + k_begin * N;', '  let sb_1 = N;', '  let sb_2 = 2u * N;', '  let sb_3 = 3u * N;');
    advance.push('kb += 4u * N;');
    advanceTail.push('kb += N;');
    setup.push(...clampedColumnsWGSL('b', groupsN, o.vecB));
    bRow = o.vecB
      ? (j, c) => `B[(kb${plus('sb', j)} + cb_${c}) / 4u]`
      : (j, c) => vec4(lanes.map((t) => `B[kb${plus('sb', j)} + cb_${c}_${t}]`));
  }

  const step = [...kStepWGSL(o, tm, tn, { aRow, aCol, bRow, bCol }), ...advance];

  // K % 4 leftovers, one k at a time (only generated when K is not a multiple of 4).
  const tailLoads = {
    a: o.transA ? (g: number) => aCol(0, g) : aTail,
    b: o.transB ? (c: number) => vec4(lanes.map((t) => `B[ib_${4 * c + t} + k]`)) : (c: number) => bRow(0, c),
  };

  return `${registerBlockDeclarationsWGSL(o)}
override WG_X: u32 = 16;
override WG_Y: u32 = 4;

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let M = params.M;
  let N = params.N;
  let K = params.K;
  let n0 = gid.x * ${tn}u;
  let m0 = gid.y * ${tm}u;
  if (m0 >= M || n0 >= N) { return; }
  let z = gid.z;
${registerBlockMainWGSL(o, tm, tn, { setup, step, tailLoads, advanceTail })}`;
}
