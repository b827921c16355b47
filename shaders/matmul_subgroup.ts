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
 * Register-blocked matmul whose quads share operands through subgroup operations (WGSL
 * `subgroups`): the four invocations of a quad own a 2×2 group of TM×TN blocks, so the two side by
 * side need the same op(A) rows and the two stacked the same op(B) columns. Each invocation loads
 * half of its K step's A fragments and half of its B fragments (those of its own parity) and takes
 * the other halves from its neighbours with quadSwapX / quadSwapY: half the loads of
 * shaders/matmul_registers.ts, with no workgroup memory and no barrier.
 *
 * Quads are fixed by the subgroup, four consecutive subgroup invocation ids. WGSL does not promise
 * how local invocations fill subgroups (nor that every quad is whole), so the kernel checks, once
 * per subgroup, that its quads are the four consecutive local indices it assigned 2×2 blocks to;
 * where not, that subgroup loads every fragment itself. Correct for any subgroup size (WGSL's 4 to
 * 128) and layout. The override SHARE = false forces the direct loads (tests reach that path on
 * devices whose subgroups do hold whole quads). WG_X and WG_Y must be even.
 */
export function matmulSubgroupShader(o: MatmulShaderOptions, tm: number, tn: number): string {
  checkRegisterBlock('subgroup', tm, tn);
  const groupsM = tm / 4;
  const groupsN = tn / 4;
  const plusK = (t: number) => (t ? ` + ${t}u` : '');

  // Fragment p of a parity: own = index 2p + parity (px for A, py for B), other = 2p + 1 - parity.
  // `ownA(p, g)` / `otherA(p, g)` load one fragment; g is the M group when A is read transposed.
  const setup: string[] = [];
  const advance: string[] = [];
  const advanceTail: string[] = [];
  let loadA: (p: number, g: number, side: 'own' | 'other') => string;
  let aCount: number;
  let aSuffix: (p: number, g: number) => string;
  if (o.transA) {
    setup.push('  var ka = abase + k_begin * M;');
    advance.push('ka += 4u * M;');
    advanceTail.push('ka += M;');
    for (const p of [0, 1]) setup.push(`  let ja_own_${p} = (${2 * p}u + px) * M;`, `  let ja_other_${p} = (${2 * p + 1}u - px) * M;`);
    setup.push(...clampedColumnsWGSL('a', groupsM, o.vecA));
    loadA = (p, g, side) =>
      o.vecA ? `A[(ka + ja_${side}_${p} + ca_${g}) / 4u]` : vec4(lanes.map((t) => `A[ka + ja_${side}_${p} + ca_${g}_${t}]`));
    aCount = 2;
    aSuffix = (p, g) => `${p}_${g}`;
  } else {
    for (let p = 0; p < tm / 2; p++) {
      setup.push(`  let ia_own_${p} = abase + min(m0 + ${2 * p}u + px, M - 1u) * K;`);
      setup.push(`  let ia_other_${p} = abase + min(m0 + ${2 * p + 1}u - px, M - 1u) * K;`);
    }
    loadA = (p, _g, side) => (o.vecA ? `A[(ia_${side}_${p} + k) / 4u]` : vec4(lanes.map((t) => `A[ia_${side}_${p} + k${plusK(t)}]`)));
    aCount = tm / 2;
    aSuffix = (p) => `${p}`;
  }
  const aGroups = o.transA ? groupsM : 1;

  let loadB: (p: number, c: number, side: 'own' | 'other') => string;
  let bCount: number;
  let bSuffix: (p: number, c: number) => string;
  if (o.transB) {
    for (let p = 0; p < tn / 2; p++) {
      setup.push(`  let ib_own_${p} = bbase + min(n0 + ${2 * p}u + py, N - 1u) * K;`);
      setup.push(`  let ib_other_${p} = bbase + min(n0 + ${2 * p + 1}u - py, N - 1u) * K;`);
    }
    loadB = (p, _c, side) => (o.vecB ? `B[(ib_${side}_${p} + k) / 4u]` : vec4(lanes.map((t) => `B[ib_${side}_${p} + k${plusK(t)}]`)));
    bCount = tn / 2;
    bSuffix = (p) => `${p}`;
  } else {
    setup.push('  var kb = bbase + k_begin * N;');
    advance.push('kb += 4u * N;');
    advanceTail.push('kb += N;');
    for (const p of [0, 1]) setup.push(`  let jb_own_${p} = (${2 * p}u + py) * N;`, `  let jb_other_${p} = (${2 * p + 1}u - py) * N;`);
    setup.push(...clampedColumnsWGSL('b', groupsN, o.vecB));
    loadB = (p, c, side) =>
      o.vecB ? `B[(kb + jb_${side}_${p} + cb_${c}) / 4u]` : vec4(lanes.map((t) => `B[kb + jb_${side}_${p} + cb_${c}_${t}]`));
    bCount = 2;
    bSuffix = (p, c) => `${p}_${c}`;
  }
  const bGroups = o.transB ? 1 : groupsN;

  // One K step: own fragments loaded, the others swapped in from the quad (or loaded where the
  // subgroup's quads are not ours), then the register kernel's products on the reassembled values.
  const step: string[] = [];
  const swaps: string[] = [];
  const direct: string[] = [];
  for (let p = 0; p < aCount; p++) {
    for (let g = 0; g < aGroups; g++) {
      const s = aSuffix(p, g);
      step.push(`let fa_${s} = ${loadA(p, g, 'own')};`, `var oa_${s}: vec4f;`);
      swaps.push(`oa_${s} = quadSwapX(fa_${s});`);
      direct.push(`oa_${s} = ${loadA(p, g, 'other')};`);
    }
  }
  for (let p = 0; p < bCount; p++) {
    for (let c = 0; c < bGroups; c++) {
      const s = bSuffix(p, c);
      step.push(`let fb_${s} = ${loadB(p, c, 'own')};`, `var ob_${s}: vec4f;`);
      swaps.push(`ob_${s} = quadSwapY(fb_${s});`);
      direct.push(`ob_${s} = ${loadB(p, c, 'other')};`);
    }
  }
  step.push('if (share) {', ...swaps.map((l) => `  ${l}`), '} else {', ...direct.map((l) => `  ${l}`), '}');
  // Index i of an operand's fragments: 2p + parity, its own when the parity matches this invocation's.
  const pick = (operand: 'a' | 'b', i: number, suffix: string) => {
    const odd = operand === 'a' ? 'x_odd' : 'y_odd';
    const [even, oddName] = i % 2 === 0 ? ['f', 'o'] : ['o', 'f'];
    return `select(${even}${operand}_${suffix}, ${oddName}${operand}_${suffix}, ${odd})`;
  };
  step.push(
    ...kStepWGSL(o, tm, tn, {
      aRow: (r) => pick('a', r, aSuffix(r >> 1, 0)),
      aCol: (j, g) => pick('a', j, aSuffix(j >> 1, g)),
      bRow: (j, c) => pick('b', j, bSuffix(j >> 1, c)),
      bCol: (n) => pick('b', n, bSuffix(n >> 1, 0)),
    }),
    ...advance,
  );

  // K % 4 leftovers, one k at a time with direct loads.
  const tailA = (g: number) => (o.vecA ? `A[(ka + ca_${g}) / 4u]` : vec4(lanes.map((t) => `A[ka + ca_${g}_${t}]`)));
  const tailB = (c: number) =>
    o.transB
      ? vec4(lanes.map((t) => `B[bbase + min(n0 + ${4 * c + t}u, N - 1u) * K + k]`))
      : o.vecB
        ? `B[(kb + cb_${c}) / 4u]`
        : vec4(lanes.map((t) => `B[kb + cb_${c}_${t}]`));
  const tailLoads = { a: o.transA ? tailA : (r: number) => `A[abase + min(m0 + ${r}u, M - 1u) * K + k]`, b: tailB };

  return `enable subgroups;
// The quad swaps run where \`share\` holds for the whole subgroup (subgroupAll), which WGSL's
// workgroup-level uniformity analysis cannot see.
diagnostic(off, subgroup_uniformity);
${registerBlockDeclarationsWGSL(o)}
override WG_X: u32 = 8;
override WG_Y: u32 = 8;
override SHARE: bool = true;

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32,
        @builtin(subgroup_invocation_id) sid: u32) {
  let M = params.M;
  let N = params.N;
  let K = params.K;
  // Local indices 4q..4q+3 take a 2×2 group of blocks: px picks the column, py the row.
  let px = li & 1u;
  let py = (li >> 1u) & 1u;
  let q = li / 4u;
  let bx = 2u * (q % (WG_X / 2u)) + px;
  let by = 2u * (q / (WG_X / 2u)) + py;
  let n0 = (wid.x * WG_X + bx) * ${tn}u;
  let m0 = (wid.y * WG_Y + by) * ${tm}u;
  let x_odd = px == 1u;
  let y_odd = py == 1u;
  // Blocks past the edges still run the loop (reading clamped rows, never stored): a quad must
  // stay whole for its swaps.
  let ballot = subgroupBallot(true);
  let whole = ((ballot[sid / 32u] >> (sid & 28u)) & 15u) == 15u;
  let ours = whole && (sid & 3u) == (li & 3u) && quadBroadcast(li, 0u) == li - (li & 3u);
  let share = SHARE && subgroupAll(ours);
  let z = wid.z;
${registerBlockMainWGSL(o, tm, tn, { setup, step, tailLoads, advanceTail })}`;
}
