import {
  COMPONENTS,
  accumulatorsWGSL,
  batchSetupWGSL,
  bindingsWGSL,
  epilogueWGSL,
  paramsWGSL,
  rowSumTailWGSL,
  storeBlockWGSL,
  type MatmulShaderOptions,
} from '../matmul.js';

/**
 * Pieces shared by the register-blocked matmul kernels without workgroup memory
 * (shaders/matmul_registers.ts, shaders/matmul_subgroup.ts), where each invocation owns a TM×TN
 * block at rows m0.., columns n0.. and reads its operands straight from storage.
 */

export const LANES = [0, 1, 2, 3];

/** A vec4f of four scalar WGSL expressions. */
export const vec4 = (parts: string[]) => `vec4f(${parts.join(', ')})`;

/** TM and TN shape named vec4 accumulators: both must be multiples of 4. */
export function checkRegisterBlock(kernel: string, tm: number, tn: number): void {
  if (tm % 4 !== 0 || tn % 4 !== 0) throw new Error(`matmul ${kernel} block ${tm}×${tn}: both sides must be multiples of 4`);
}

/** Everything a register-blocked kernel declares before its overrides: uniforms, bindings, epilogue. */
export function registerBlockDeclarationsWGSL(o: MatmulShaderOptions): string {
  return `${paramsWGSL}
${bindingsWGSL(o)}
${epilogueWGSL(o)}`;
}

export interface RegisterBlockMain {
  /** Lines computed once before the K loop (indented for main's body). */
  setup: readonly string[];
  /** Statements of one K step of 4 (unindented). */
  step: readonly string[];
  tailLoads: KTailLoads;
  /** Statements moving the running operand offsets by one k (see kTailLoopWGSL). */
  advanceTail: readonly string[];
}

/**
 * The rest of main once m0, n0 and z are known: batch offsets, setup, accumulators, the K loop in
 * steps of 4, the K tail, and the stores of the block.
 */
export function registerBlockMainWGSL(o: MatmulShaderOptions, tm: number, tn: number, m: RegisterBlockMain): string {
  // The invocations of column block 0 own the row sums (see MatmulShaderOptions.rowSum).
  const first = o.rowSum ? '\n  let first = n0 == 0u;' : '';
  return `${batchSetupWGSL}
${m.setup.join('\n')}${first}
${accumulatorsWGSL(o, tm, tn)}
  var k = k_begin;
  for (; k + 4u <= k_end; k += 4u) {
${m.step.map((l) => `    ${l}`).join('\n')}
  }
${kTailLoopWGSL(o, tm, tn, m.tailLoads, m.advanceTail)}
${storeBlockWGSL(o, tm, tn)}
}
`;
}

/**
 * Setup lines: the operand columns of an operand read along its stored rows (Aᵀ's M columns, B's N
 * columns) in groups of 4, clamped into the matrix (lanes past an edge read the last column and are
 * never stored): `ca_g`/`cb_g` where vec4-aligned, else one `ca_g_t`/`cb_g_t` per lane.
 */
export function clampedColumnsWGSL(operand: 'a' | 'b', groups: number, vec: boolean): string[] {
  const [start, size] = operand === 'a' ? ['m0', 'M'] : ['n0', 'N'];
  const lines: string[] = [];
  for (let g = 0; g < groups; g++) {
    if (vec) lines.push(`  let c${operand}_${g} = min(${start} + ${4 * g}u, ${size} - 4u);`);
    else for (const t of LANES) lines.push(`  let c${operand}_${g}_${t} = min(${start} + ${4 * g + t}u, ${size} - 1u);`);
  }
  return lines;
}

/** How the K tail reads one k: `a(i)` is op(A) row i (a vec4 of 4 rows when A is transposed), `b(c)` column group c. */
export interface KTailLoads {
  a: (i: number) => string;
  b: (c: number) => string;
}

/**
 * The loop over the K % 4 leftovers, one k at a time (at most three steps), after the main loop's
 * steps of 4; empty when K is a multiple of 4. `advanceTail` moves the running operand offsets by one k.
 */
export function kTailLoopWGSL(o: MatmulShaderOptions, tm: number, tn: number, load: KTailLoads, advanceTail: readonly string[]): string {
  if (!o.kTail) return '';
  const groupsN = tn / 4;
  const tail: string[] = [];
  const aCount = o.transA ? tm / 4 : tm;
  for (let i = 0; i < aCount; i++) tail.push(`let a_${i} = ${load.a(i)};`);
  for (let c = 0; c < groupsN; c++) tail.push(`let b_${c} = ${load.b(c)};`);
  for (let r = 0; r < tm; r++) {
    const a = o.transA ? `a_${r >> 2}.${COMPONENTS[r & 3]}` : `a_${r}`;
    for (let c = 0; c < groupsN; c++) tail.push(`acc_${r}_${c} += ${a} * b_${c};`);
  }
  tail.push(...rowSumTailWGSL(o, tm), ...advanceTail);
  return `  for (; k < k_end; k++) {\n${tail.map((l) => `    ${l}`).join('\n')}\n  }`;
}
