import { activateAll, activateGradSaved } from './activation.js';
import type { RefOp } from './ref_op.js';

/** Float64 reference matmul, written from the definition C[b,m,n] = Σ_k op(A)[b,m,k] · op(B)[b,k,n]. */

export interface RefMatmul {
  batch: number;
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  /** Elements between batch matrices; default the matrix size, 0 = one matrix for all. */
  strideA?: number;
  strideB?: number;
}

/** op(A)[b, m, k] from A stored M×K (or K×M when transposed). */
function aAt(s: RefMatmul, a: ArrayLike<number>, b: number, m: number, k: number): number {
  const base = b * (s.strideA ?? s.M * s.K);
  return s.transA ? a[base + k * s.M + m] : a[base + m * s.K + k];
}

function bAt(s: RefMatmul, bm: ArrayLike<number>, b: number, k: number, n: number): number {
  const base = b * (s.strideB ?? s.K * s.N);
  return s.transB ? bm[base + n * s.K + k] : bm[base + k * s.N + n];
}

export function matmulRef(s: RefMatmul, a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const c = new Float64Array(s.batch * s.M * s.N);
  for (let bi = 0; bi < s.batch; bi++) {
    for (let m = 0; m < s.M; m++) {
      for (let n = 0; n < s.N; n++) {
        let sum = 0;
        for (let k = 0; k < s.K; k++) sum += aAt(s, a, bi, m, k) * bAt(s, b, bi, k, n);
        c[(bi * s.M + m) * s.N + n] = sum;
      }
    }
  }
  return c;
}

/** c[b, m, n] + bias[n] */
export function addBiasRef(c: ArrayLike<number>, bias: ArrayLike<number>): Float64Array {
  return Float64Array.from(c, (v, i) => v + bias[i % bias.length]);
}

/** Σ |op(A)[m,k]| · |op(B)[k,n]| per output: the scale of f32 rounding error in that sum. */
export function matmulAbsRef(s: RefMatmul, a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  return matmulRef(s, Float64Array.from(a, Math.abs), Float64Array.from(b, Math.abs));
}

/** rowSum[b, m] = Σ_k op(A)[b, m, k]. */
export function rowSumRef(s: RefMatmul, a: ArrayLike<number>): Float64Array {
  const r = new Float64Array(s.batch * s.M);
  for (let bi = 0; bi < s.batch; bi++) {
    for (let m = 0; m < s.M; m++) {
      let sum = 0;
      for (let k = 0; k < s.K; k++) sum += aAt(s, a, bi, m, k);
      r[bi * s.M + m] = sum;
    }
  }
  return r;
}

/** The graph's matmul: A [M, K] or [B, M, K] (transposed as asked) times B, a 2-D B serving every batch. */
export const matmulOpRef: RefOp<'matmul'> = ([a, b], { attrs, inputs: [aV, bV], outputs: [out] }) => {
  const [M, N] = out.shape.slice(-2);
  const K = attrs.transA ? aV.shape.at(-2)! : aV.shape.at(-1)!;
  const batch = aV.shape.length === 3 ? aV.shape[0] : 1;
  return [matmulRef({ batch, M, N, K, transA: attrs.transA, transB: attrs.transB, strideB: bV.shape.length === 3 ? K * N : 0 }, a, b)];
};

/**
 * Defined as the composition it replaces: the product, then × prologue'(saved) (a backward), or
 * + bias[N] and the activation; with rowSum also the row sums of op(A).
 */
export const matmulFusedRef: RefOp<'matmul_fused'> = (x, step) => {
  const { attrs, inputs, outputs } = step;
  const [c] = matmulOpRef(x, { ...step, op: 'matmul', attrs: { transA: attrs.transA, transB: attrs.transB } }, 0);
  let y: Float64Array;
  if (attrs.prologue) {
    const saved = x[inputs.length - 1];
    y = c.map((v, i) => v * activateGradSaved(attrs.prologue!.kind, saved[i], attrs.prologue!.alpha));
  } else {
    y = activateAll(attrs.activation.kind, attrs.bias ? addBiasRef(c, x[2]) : c, attrs.activation.alpha);
  }
  if (!attrs.rowSum) return [y];
  const [aV] = inputs;
  const [K, M] = attrs.transA ? aV.shape : [aV.shape[1], aV.shape[0]];
  return [y, rowSumRef({ batch: 1, M, N: outputs[0].shape.at(-1)!, K, transA: attrs.transA }, x[0])];
};
