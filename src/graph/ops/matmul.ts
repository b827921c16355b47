import { ShapeError } from '../../gpu/errors.js';
import {
  matmulCandidates,
  matmulConfig,
  matmulProgram,
  matmulShapeClass,
  matmulTuneBufferBytes,
  matmulTuneCandidate,
  type MatmulParams,
} from '../../kernels/matmul.js';
import { describeShape, type Graph, type TensorType, type Value } from '../ir.js';
import { program, type LowerContext, type Lowering } from '../lower.js';
import { expectArity, expectF32, materialise, type OpRule } from './rule.js';

/** The op kinds this file defines, with their attributes (see OpAttrs in ./kinds.ts). */
export interface MatmulOps {
  /** C = op(A)·op(B); A [M,K] (or [K,M] when transA), B [K,N] (or [N,K] when transB); batched with a leading dim. */
  matmul: { transA: boolean; transB: boolean };
}

/** [batch, rows, cols] of an operand as stored, and its logical [rows, cols] after the optional transpose. */
function operand(shape: readonly number[], trans: boolean): { batch: number; rows: number; cols: number } {
  const [r, c] = shape.slice(-2);
  return { batch: shape.length === 3 ? shape[0] : 1, rows: trans ? c : r, cols: trans ? r : c };
}

export const matmulRule: OpRule<'matmul'> = {
  infer([a, b], { transA, transB }, where) {
    expectArity(where, [a, b], 2, 'A, B');
    expectF32(where, 'A', a);
    expectF32(where, 'B', b);
    const shared = a.shape.length === 3 && b.shape.length === 2;
    if (a.shape.length < 2 || a.shape.length > 3 || (a.shape.length !== b.shape.length && !shared)) {
      throw new ShapeError(
        `${where}: A ${describeShape(a.shape)} and B ${describeShape(b.shape)} must both be 2-D, both 3-D with a batch dimension, ` +
          'or A 3-D and B 2-D (one B for every batch, as a Linear layer on [batch, time, features])',
      );
    }
    if (shared && transA) {
      throw new ShapeError(`${where}: A ${describeShape(a.shape)}ᵀ with a 2-D B ${describeShape(b.shape)}: a transposed batched A needs B batched too; give B a batch dimension or store A untransposed`);
    }
    const A = operand(a.shape, transA);
    const B = operand(b.shape, transB);
    if (A.cols !== B.rows) {
      throw new ShapeError(
        `${where}: A ${describeShape(a.shape)}${transA ? 'ᵀ' : ''} and B ${describeShape(b.shape)}${transB ? 'ᵀ' : ''}: ` +
          `inner dimensions ${A.cols} and ${B.rows} differ; transpose an operand or fix its shape`,
      );
    }
    if (!shared && A.batch !== B.batch) {
      throw new ShapeError(`${where}: batch sizes ${A.batch} and ${B.batch} of A ${describeShape(a.shape)} and B ${describeShape(b.shape)} differ`);
    }
    const shape = a.shape.length === 3 ? [A.batch, A.rows, B.cols] : [A.rows, B.cols];
    return [{ shape, dtype: 'f32' }];
  },

  // With C = op(A)·op(B) and G = dL/dC, for the stored operands:
  //   C = A B:     dA = G Bᵀ,    dB = Aᵀ G
  //   C = A Bᵀ:    dA = G B,     dB = Gᵀ A
  //   C = Aᵀ B:    dA = B Gᵀ,    dB = A G
  //   C = Aᵀ Bᵀ:   dA = Bᵀ Gᵀ,   dB = Gᵀ Aᵀ
  // Every case is one matmul with transposed operands read in place: no transpose kernels.
  grad(g: Graph, node, [upstream], needs) {
    if (upstream === null) return [null, null];
    const [a, b] = node.inputs;
    const dc = materialise(g, upstream, node.outputs[0]);
    const mm = (x: Value, y: Value, transA: boolean, transB: boolean) => g.apply('matmul', [x, y], { transA, transB })[0];
    const { transA, transB } = node.attrs;
    let da: Value | null = null;
    let db: Value | null = null;
    if (needs[0]) {
      if (!transA) da = transB ? mm(dc, b, false, false) : mm(dc, b, false, true);
      else da = transB ? mm(b, dc, true, true) : mm(b, dc, false, true);
    }
    if (needs[1] && a.shape.length === 3 && b.shape.length === 2) {
      // B shared across the batch: its gradient sums over every batch's rows, so read A and G as
      // [batch·M, ·] (free views): dB = A₂ᵀ G₂, or G₂ᵀ A₂ when B is stored transposed.
      const rows = a.shape[0] * a.shape[1];
      const a2 = g.apply('reshape', [a], { shape: [rows, a.shape[2]] })[0];
      const g2 = g.apply('reshape', [dc], { shape: [rows, dc.shape[2]] })[0];
      db = transB ? mm(g2, a2, true, false) : mm(a2, g2, true, false);
    } else if (needs[1]) {
      if (!transB) db = transA ? mm(a, dc, false, false) : mm(a, dc, true, false);
      else db = transA ? mm(dc, a, true, true) : mm(dc, a, true, false);
    }
    return [da, db];
  },
  lower: ({ inputs: [a, b], attrs }, ctx) => lowerMatmul(matmulParamsOf(a, b, attrs.transA, attrs.transB), ctx),
};

/** Kernel parameters of a (possibly fused) matmul node from its operand shapes. */
export function matmulParamsOf(a: TensorType, b: TensorType, transA: boolean, transB: boolean): MatmulParams {
  // A [batch, M, K] (untransposed) times a shared B is one product of A read as [batch·M, K].
  if (a.shape.length === 3 && b.shape.length === 2) return matmulParamsOf({ ...a, shape: [a.shape[0] * a.shape[1], a.shape[2]] }, b, transA, transB);
  const A = operand(a.shape, transA);
  const B = operand(b.shape, transB);
  return { batch: A.batch, M: A.rows, N: B.cols, K: A.cols, transA, transB };
}

/** Chooses the matmul configuration for these parameters, timing candidates when tuning is on. */
export async function lowerMatmul(p: MatmulParams, ctx: LowerContext): Promise<Lowering> {
  const candidates = matmulCandidates(p);
  const id = await ctx.tune(
    matmulShapeClass(p),
    candidates.map((c) => matmulTuneCandidate(p, c)),
    matmulTuneBufferBytes(p, candidates),
  );
  return program(matmulProgram(p, matmulConfig(id)));
}
