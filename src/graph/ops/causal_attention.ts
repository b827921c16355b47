import { ShapeError } from '../../gpu/errors.js';
import {
  attentionShape,
  causalAttentionBackward,
  causalAttentionBackwardTuning,
  causalAttentionForward,
  causalAttentionForwardTuning,
  tilesOf,
} from '../../kernels/causal_attention.js';
import { singleLaunch } from '../../kernels/kernel.js';
import { describeShape, type TensorType } from '../ir.js';
import { program } from '../lower.js';
import { expectArity, expectF32, expectSameShape, materialise, type OpRule } from './rule.js';

/** The op kinds this file defines, with their attributes (see OpAttrs in ./kinds.ts). */
export interface CausalAttentionOps {
  /** qkv [B, T, 3·E] → y [B, T, E], lse [B, heads, T]: fused causal self-attention (see its rule). */
  causal_attention: CausalAttentionAttrs;
  /** dy, qkv, y, lse → dqkv, recomputing the probabilities from lse. */
  causal_attention_backward: CausalAttentionAttrs;
}

/**
 * Attributes of causal_attention and its backward. The input is the packed qkv [B, T, 3·E] of one
 * fused Linear (E = heads·headDim; q, k, v stacked in that order, each split into heads as
 * `view(B, T, heads, headDim)`), and the output y is [B, T, E], the heads side by side: what the
 * `proj` Linear reads. Taking the packed tensor costs no split or transpose kernels either way.
 */
export interface CausalAttentionAttrs {
  heads: number;
  /** Multiplies q·k before the softmax; 1/√headDim in a GPT block. */
  scale: number;
}

function check(where: string, qkv: TensorType, attrs: CausalAttentionAttrs) {
  expectF32(where, 'qkv', qkv);
  const s = attentionShape(where, qkv.shape, attrs.heads);
  if (typeof attrs.scale !== 'number' || !Number.isFinite(attrs.scale)) {
    throw new ShapeError(`${where}: scale ${String(attrs.scale)} must be a finite number (1/√headDim = ${1 / Math.sqrt(s.headDim)} is the usual one)`);
  }
  return s;
}

/**
 * y_i = Σ_{j≤i} softmax_j(scale·q_i·k_j)·v_j per head, and lse_i = log Σ_{j≤i} exp(scale·q_i·k_j)
 * [B, heads, T], which the backward needs to recompute the probabilities without storing them.
 */
export const causalAttentionRule: OpRule<'causal_attention'> = {
  infer([qkv], attrs, where) {
    const s = check(where, qkv, attrs);
    return [
      { shape: [s.batch, s.tokens, s.heads * s.headDim], dtype: 'f32' },
      { shape: [s.batch, s.heads, s.tokens], dtype: 'f32' },
    ];
  },
  // With P = softmax(S), S = scale·Q·Kᵀ + mask: dV = Pᵀ·dY, dP = dY·Vᵀ, dS = P ⊙ (dP − rowsum(dY ⊙ Y)),
  // dQ = scale·dS·K, dK = scale·dSᵀ·Q, packed back into dqkv.
  grad(g, node, [up, upLse]) {
    if (upLse !== null) {
      throw new ShapeError(`gradients: ${node.layer ? `${node.layer}: ` : ''}causal_attention's logsumexp output is saved for the backward and not differentiable; detach it before using it in the loss`);
    }
    if (up === null) return [null];
    const [y, lse] = node.outputs;
    return [g.apply('causal_attention_backward', [materialise(g, up, y), node.inputs[0], y, lse], node.attrs)[0]];
  },
  async lower({ inputs: [qkv], attrs }, ctx) {
    const s = attentionShape('causal_attention', qkv.shape, attrs.heads);
    const t = causalAttentionForwardTuning(s, attrs.scale, ctx.software);
    const id = await ctx.tune(t.shapeClass, t.candidates, t.bufferBytes);
    return program(singleLaunch(causalAttentionForward(s, attrs.scale, tilesOf(id))));
  },
};

/** dy, qkv, y, lse (the forward's input and outputs) → dqkv. */
export const causalAttentionBackwardRule: OpRule<'causal_attention_backward'> = {
  infer(inputs, attrs, where) {
    expectArity(where, inputs, 4, 'dy, qkv, y, lse');
    const [dy, qkv, y, lse] = inputs;
    const s = check(where, qkv, attrs);
    expectSameShape(where, dy, y, 'dy must have the shape of the attention output');
    const want = [
      ['y', y, [s.batch, s.tokens, s.heads * s.headDim]],
      ['lse', lse, [s.batch, s.heads, s.tokens]],
    ] as const;
    for (const [name, t, shape] of want) {
      expectF32(where, name, t);
      if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
        throw new ShapeError(`${where}: ${name} ${describeShape(t.shape)} must be ${describeShape(shape)} for qkv ${describeShape(qkv.shape)} with ${attrs.heads} heads`);
      }
    }
    return [{ shape: qkv.shape, dtype: 'f32' }];
  },
  // No model the engine trains needs second derivatives of attention.
  grad: 'nondiff',
  async lower({ inputs: [, qkv], attrs }, ctx) {
    const s = attentionShape('causal_attention_backward', qkv.shape, attrs.heads);
    const t = causalAttentionBackwardTuning(s, attrs.scale, ctx.software);
    const id = await ctx.tune(t.shapeClass, t.candidates, t.bufferBytes);
    return program(causalAttentionBackward(s, attrs.scale, tilesOf(id)));
  },
};
