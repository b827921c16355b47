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
    if (a.shape.length < 2 || a.shape.length > 3 || a.shape.length !== b.shape.length) {
      throw new ShapeError(
        `${where}: A ${describeShape(a.shape)} and B ${describeShape(b.shape)} must both be 2-D, or both 3-D with a batch dimension`,
      );
    }
    const A = operand(a.shape, transA);
    const B = operand(b.shape, transB);
    if (A.cols !== B.rows) {
      throw new ShapeError(
        `${where}: A ${describeShape(a.shape)}${transA ? 'ᵀ' : ''} and B ${describeShape(b.shape)}${transB ? 'ᵀ' : ''}: ` +
          `inner dimensions ${A.cols} and ${B.rows} differ; transpose an operand or fix its shape`,
      );
    }
    if (A.batch !== B.batch) {
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
    if (needs[1]) {
      if (!transB) db = transA ? mm(a, dc, false, false) : mm(a, dc, true, false);
      else db = transA ? mm(dc, a, true, true) : mm(dc, a, true, false);
    }
    return [da, db];
  },
  lower: ({ inputs: [a, b], attrs }, ctx) => lowerMatmul(matmulParamsOf(a, b, attrs.transA, attrs.transB), ctx),
};

/** Kernel parameters of a (possibly fused) matmul node from its operand shapes. */
export function matmulParamsOf(a: TensorType, b: TensorType, transA: boolean, transB: boolean): MatmulParams {
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
