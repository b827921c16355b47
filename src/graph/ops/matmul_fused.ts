import { ShapeError } from '../../gpu/errors.js';
import { describeShape } from '../ir.js';
import { lowerMatmul, matmulParamsOf, matmulRule } from './matmul.js';
import type { OpRule } from './rule.js';
import type { ActivationSpec } from '../../../shaders/lib/activations.js';

/** The op kinds this file defines, with their attributes (see OpAttrs in ./kinds.ts). */
export interface MatmulFusedOps {
  /**
   * Made only by the fusion passes, after autodiff: op(A)·op(B) (+ bias[N]) then `activation`, or,
   * with `prologue`, the product times prologue'(saved) — the backward dX = (dY·Wᵀ) ⊙ f'(Z).
   * Inputs: A, B, then bias if `bias`, then saved if `prologue`.
   */
  matmul_fused: {
    transA: boolean;
    transB: boolean;
    bias: boolean;
    activation: ActivationSpec;
    prologue: ActivationSpec | null;
    /** Also output the row sums of op(A) (a bias gradient Σ_batch dY next to dW = dYᵀ·X). */
    rowSum?: boolean;
  };
}

/** Shape rule of the fused matmul; its meaning is the unfused composition it replaces. */
export const matmulFusedRule: OpRule<'matmul_fused'> = {
  infer(inputs, attrs, where) {
    const expected = 2 + (attrs.bias ? 1 : 0) + (attrs.prologue ? 1 : 0);
    if (inputs.length !== expected) throw new ShapeError(`${where}: expects ${expected} inputs, got ${inputs.length}`);
    const [c] = matmulRule.infer(inputs.slice(0, 2), attrs, where);
    const n = c.shape.at(-1)!;
    if (attrs.bias && (inputs[2].shape.length !== 1 || inputs[2].shape[0] !== n)) {
      throw new ShapeError(`${where}: bias ${describeShape(inputs[2].shape)} must be [${n}]`);
    }
    const saved = attrs.prologue ? inputs[expected - 1] : undefined;
    if (saved && saved.shape.join() !== c.shape.join()) {
      throw new ShapeError(`${where}: saved activation ${describeShape(saved.shape)} must match the product ${describeShape(c.shape)}`);
    }
    // The row sums of op(A) (2-D only): one value per row of the product.
    return attrs.rowSum ? [c, { shape: [c.shape[0]], dtype: 'f32' }] : [c];
  },
  // Fusion runs after autodiff, so nothing ever differentiates a fused node.
  grad: 'nondiff',
  lower: ({ inputs: [a, b], attrs }, ctx) =>
    lowerMatmul(
      {
        ...matmulParamsOf(a, b, attrs.transA, attrs.transB),
        bias: attrs.bias,
        activation: attrs.activation,
        prologue: attrs.prologue ?? undefined,
        rowSumA: attrs.rowSum,
      },
      ctx,
    ),
};
