import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { activationWGSL, type Activation } from './lib/activations.js';

/**
 * Pieces shared by the matmul kernels (shaders/matmul_registers.ts, shaders/matmul_tiled.ts):
 * C[b] = op(A[b]) · op(B[b]) with op(X) = X or Xᵀ read in place, f32.
 *
 * Each operand is a stored row-major matrix; its columns are its "natural" (contiguous) axis:
 *   A: M×K (A), or K×M (Aᵀ read in place)        B: K×N (B), or N×K (Bᵀ read in place)
 * When the natural axis length and the batch stride are multiples of 4, the operand is bound as
 * array<vec4f> and read 16 bytes at a time; otherwise as array<f32> with four scalar loads per vec4.
 */
export interface MatmulShaderOptions {
  transA: boolean;
  transB: boolean;
  /** A bound as array<vec4f> (its natural axis and batch stride are multiples of 4). */
  vecA: boolean;
  vecB: boolean;
  /** C (and `saved`, `bias`) bound as array<vec4f>: N is a multiple of 4. */
  vecC: boolean;
  /** K is not a multiple of 4, so the K loop needs a one-step tail. */
  kTail: boolean;
  /** Write the raw product (a split-K partial sum); bias, activation and prologue are left to the reduce launch. */
  partial: boolean;
  bias: boolean;
  activation: Activation;
  /** Multiply the product by activate_grad(saved[m, n]) of this activation (backward through it). */
  prologue?: Activation;
  /**
   * Also write rowSum[z, m] = Σ_k op(A)[m, k] over this launch's K range (z = b·splits + s). Only the
   * invocations whose block starts at column 0 (`first`) accumulate and store it: they read every
   * op(A) element of their rows anyway, and one writer per row needs no atomics.
   */
  rowSum?: boolean;
}

export const COMPONENTS = ['x', 'y', 'z', 'w'] as const;

/** Uniform layout shared by every matmul launch (src/kernels/matmul.ts writes it). */
export const paramsWGSL = /* wgsl */ `
struct Params {
  M: u32, N: u32, K: u32, batch: u32,
  // Elements between consecutive batch matrices of A and B (0 broadcasts one matrix over the batch).
  strideA: u32, strideB: u32,
  // Split-K: launch z = b * splits + s sums k in [s * kChunk, min(K, (s + 1) * kChunk)).
  kChunk: u32, splits: u32,
}
`;

/** Storage declarations in io order A, B, [bias], [saved], C, [rowSum], then the uniform. */
export function bindingsWGSL(o: MatmulShaderOptions): string {
  const elemA = o.vecA ? 'vec4f' : 'f32';
  const elemB = o.vecB ? 'vec4f' : 'f32';
  const elemC = o.vecC ? 'vec4f' : 'f32';
  const bias = o.bias && !o.partial;
  const saved = o.prologue !== undefined && !o.partial;
  let binding = 0;
  const lines = [
    `@group(0) @binding(${binding++}) var<storage, read> A: array<${elemA}>;`,
    `@group(0) @binding(${binding++}) var<storage, read> B: array<${elemB}>;`,
  ];
  if (bias) lines.push(`@group(0) @binding(${binding++}) var<storage, read> bias: array<${elemC}>;`);
  if (saved) lines.push(`@group(0) @binding(${binding++}) var<storage, read> saved: array<${elemC}>;`);
  lines.push(`@group(0) @binding(${binding++}) var<storage, read_write> C: array<${elemC}>;`);
  if (o.rowSum) lines.push(`@group(0) @binding(${binding++}) var<storage, read_write> rowSum: array<f32>;`);
  lines.push(`@group(0) @binding(${binding++}) var<uniform> params: Params;`);
  return lines.join('\n');
}

/** Stored row and column counts of A and B as WGSL expressions. */
function storedDims(o: MatmulShaderOptions): { aRows: string; aCols: string; bRows: string; bCols: string } {
  return {
    aRows: o.transA ? 'params.K' : 'params.M',
    aCols: o.transA ? 'params.M' : 'params.K',
    bRows: o.transB ? 'params.N' : 'params.K',
    bCols: o.transB ? 'params.K' : 'params.N',
  };
}

function guardedLoader(name: string, array: string, vec: boolean, rows: string, cols: string): string {
  if (vec) {
    return `fn ${name}(base: u32, r: u32, c: u32, rlim: u32, clim: u32) -> vec4f {
  if (r < rlim && c < clim) { return ${array}[(base + r * ${cols} + c) / 4u]; }
  return vec4f(0.0);
}`;
  }
  const lane = (t: number) => {
    const c = t === 0 ? 'c' : `c + ${t}u`;
    return `select(0.0, ${array}[i + min(${c}, last)], ok && ${c} < clim)`;
  };
  return `fn ${name}(base: u32, r: u32, c: u32, rlim: u32, clim: u32) -> vec4f {
  let ok = r < rlim;
  let i = base + min(r, ${rows} - 1u) * ${cols};
  let last = ${cols} - 1u;
  return vec4f(${[0, 1, 2, 3].map(lane).join(', ')});
}`;
}

/**
 * Zero-filling loaders for workgroup tiles: stored X[r, c..c+3], with rows >= rlim and columns >=
 * clim read as 0 (tile edges, and the end of a split-K chunk). Indices are clamped so no read leaves
 * the matrix.
 */
export function guardedLoadersWGSL(o: MatmulShaderOptions): string {
  const d = storedDims(o);
  return [
    guardedLoader('load_a_zero', 'A', o.vecA, d.aRows, d.aCols),
    guardedLoader('load_b_zero', 'B', o.vecB, d.bRows, d.bCols),
  ].join('\n');
}

/**
 * `finish4(v, i)` / `finish1(v, i, n)`: the fused epilogue applied to the product at C index i
 * (vec4 index when C is vec4-bound) and column n: ⊙ activate_grad(saved), + bias, activate.
 */
export function epilogueWGSL(o: MatmulShaderOptions): string {
  const activation = o.partial ? 'none' : (o.prologue ?? o.activation);
  const prologue = o.prologue !== undefined && !o.partial;
  const bias = o.bias && !o.partial;
  const act = !o.partial && o.activation !== 'none';
  return wgsl`
${activationWGSL(activation)}
#if ${o.vecC}
fn finish4(v: vec4f, i: u32, n: u32) -> vec4f {
  var r = v;
#if ${prologue}
  let s = saved[i];
  r *= vec4f(activate_grad(s.x), activate_grad(s.y), activate_grad(s.z), activate_grad(s.w));
#endif
#if ${bias}
  r += bias[n / 4u];
#endif
#if ${act}
  r = vec4f(activate(r.x), activate(r.y), activate(r.z), activate(r.w));
#endif
  return r;
}
#else
fn finish1(v: f32, i: u32, n: u32) -> f32 {
  var r = v;
#if ${prologue}
  r *= activate_grad(saved[i]);
#endif
#if ${bias}
  r += bias[n];
#endif
#if ${act}
  r = activate(r);
#endif
  return r;
}
#endif
`;
}

/**
 * Stores the TM×TN block held in accumulators acc_r_c (vec4 over four columns) at rows m0.., columns
 * n0.., skipping what lies outside M×N, and the row sums of rows m0.. when `first`. Expects `m0`,
 * `n0`, `cbase` (and for row sums `z`, `first`) in scope.
 */
export function storeBlockWGSL(o: MatmulShaderOptions, tm: number, tn: number): string {
  const lines: string[] = [];
  for (let r = 0; r < tm; r++) {
    lines.push(`  if (m0 + ${r}u < params.M) {`);
    if (o.rowSum) lines.push(`    if (first) { rowSum[z * params.M + m0 + ${r}u] = ${rowSumValue(o, r)}; }`);
    lines.push(`    let row = cbase + (m0 + ${r}u) * params.N;`);
    for (let c = 0; c < tn / 4; c++) {
      const n = `n0 + ${4 * c}u`;
      if (o.vecC) {
        lines.push(`    if (${n} < params.N) { C[(row + ${n}) / 4u] = finish4(acc_${r}_${c}, (row + ${n}) / 4u, ${n}); }`);
      } else {
        for (let t = 0; t < 4; t++) {
          const nt = `${n} + ${t}u`;
          lines.push(`    if (${nt} < params.N) { C[row + ${nt}] = finish1(acc_${r}_${c}.${COMPONENTS[t]}, row + ${nt}, ${nt}); }`);
        }
      }
    }
    lines.push('  }');
  }
  return lines.join('\n');
}

/**
 * `var acc_r_c = vec4f(0.0);` for a TM×TN block, and the row-sum accumulators: rs_r (op(A) row r,
 * four k lanes, reduced by one dot at the store) when A is read along K, rs_g (rows 4g..4g+3, summed
 * over k) when Aᵀ is read along M.
 */
export function accumulatorsWGSL(o: MatmulShaderOptions, tm: number, tn: number): string {
  const lines: string[] = [];
  for (let r = 0; r < tm; r++) for (let c = 0; c < tn / 4; c++) lines.push(`  var acc_${r}_${c} = vec4f(0.0);`);
  if (o.rowSum) for (let i = 0; i < (o.transA ? tm / 4 : tm); i++) lines.push(`  var rs_${i} = vec4f(0.0);`);
  return lines.join('\n');
}

/** Σ_k op(A)[m0 + r, k] from the row-sum accumulators. */
function rowSumValue(o: MatmulShaderOptions, r: number): string {
  return o.transA ? `rs_${r >> 2}.${COMPONENTS[r & 3]}` : `dot(rs_${r}, vec4f(1.0))`;
}

/** Adds one K step's op(A) values (the step's a_* registers) to the row sums, first column block only. */
function rowSumStepWGSL(o: MatmulShaderOptions, tm: number): string[] {
  if (!o.rowSum) return [];
  const adds: string[] = [];
  if (o.transA) {
    for (let g = 0; g < tm / 4; g++) adds.push(`rs_${g} += a_0_${g} + a_1_${g} + a_2_${g} + a_3_${g};`);
  } else {
    for (let r = 0; r < tm; r++) adds.push(`rs_${r} += a_${r};`);
  }
  return ['if (first) {', ...adds.map((l) => `  ${l}`), '}'];
}

/**
 * Row sums of a one-k tail step: a_g (Aᵀ, vec4 along M) or the scalar a_r (A) from the tail's
 * registers, into lane x of rs_r.
 */
export function rowSumTailWGSL(o: MatmulShaderOptions, tm: number): string[] {
  if (!o.rowSum) return [];
  const adds: string[] = [];
  if (o.transA) for (let g = 0; g < tm / 4; g++) adds.push(`rs_${g} += a_${g};`);
  else for (let r = 0; r < tm; r++) adds.push(`rs_${r}.x += a_${r};`);
  return ['if (first) {', ...adds.map((l) => `  ${l}`), '}'];
}

/** Batch and split-K chunk of this launch's z index, and the operand bases. Expects `z` in scope. */
export const batchSetupWGSL = /* wgsl */ `
  let b = z / params.splits;
  let k_begin = (z % params.splits) * params.kChunk;
  let k_end = min(params.K, k_begin + params.kChunk);
  let abase = b * params.strideA;
  let bbase = b * params.strideB;
  let cbase = z * params.M * params.N;
`;

/** Where one K step of 4 reads its operands from (global memory or a workgroup tile). */
export interface StepLoads {
  /** op(A)[m0 + r, k..k+3] as vec4 along K (A stored M×K). */
  aRow: (r: number) => string;
  /** op(A)[m0 + 4g..4g+3, k + j] as vec4 along M (A stored K×M). */
  aCol: (j: number, g: number) => string;
  /** op(B)[k + j, n0 + 4c..4c+3] as vec4 along N (B stored K×N). */
  bRow: (j: number, c: number) => string;
  /** op(B)[k..k+3, n0 + n] as vec4 along K (B stored N×K, read in place). */
  bCol: (n: number) => string;
}

/**
 * One K step of 4 into the TM×TN accumulators, every product written out (Tint does not unroll).
 * Each operand is read as vec4 along its stored rows: for Bᵀ that is along K, so A·Bᵀ becomes four
 * dot products per accumulator, and Aᵀ·Bᵀ regroups the Bᵀ lanes into rows of op(B).
 */
export function kStepWGSL(o: MatmulShaderOptions, tm: number, tn: number, loads: StepLoads): string[] {
  const out: string[] = [];
  const groupsM = tm / 4;
  const groupsN = tn / 4;
  const aAt = (r: number, j: number) => (o.transA ? `a_${j}_${r >> 2}.${COMPONENTS[r & 3]}` : `a_${r}.${COMPONENTS[j]}`);
  if (o.transA) {
    for (let j = 0; j < 4; j++) for (let g = 0; g < groupsM; g++) out.push(`let a_${j}_${g} = ${loads.aCol(j, g)};`);
  } else {
    for (let r = 0; r < tm; r++) out.push(`let a_${r} = ${loads.aRow(r)};`);
  }
  out.push(...rowSumStepWGSL(o, tm));
  if (o.transB) {
    for (let n = 0; n < tn; n++) out.push(`let bt_${n} = ${loads.bCol(n)};`);
  } else {
    for (let j = 0; j < 4; j++) for (let c = 0; c < groupsN; c++) out.push(`let b_${j}_${c} = ${loads.bRow(j, c)};`);
  }
  if (o.transB && !o.transA) {
    for (let r = 0; r < tm; r++) {
      for (let c = 0; c < groupsN; c++) {
        const dots = [0, 1, 2, 3].map((t) => `dot(a_${r}, bt_${4 * c + t})`).join(', ');
        out.push(`acc_${r}_${c} += vec4f(${dots});`);
      }
    }
    return out;
  }
  if (o.transB) {
    for (let j = 0; j < 4; j++) {
      for (let c = 0; c < groupsN; c++) {
        const lanes = [0, 1, 2, 3].map((t) => `bt_${4 * c + t}.${COMPONENTS[j]}`).join(', ');
        out.push(`let b_${j}_${c} = vec4f(${lanes});`);
      }
    }
  }
  for (let j = 0; j < 4; j++) {
    for (let r = 0; r < tm; r++) for (let c = 0; c < groupsN; c++) out.push(`acc_${r}_${c} += ${aAt(r, j)} * b_${j}_${c};`);
  }
  return out;
}
