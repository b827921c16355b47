import { activationBackwardRule, activationRule } from './activation.js';
import { batchNormBackwardRule, batchNormEvalRule, batchNormRule } from './batch_norm.js';
import { causalAttentionBackwardRule, causalAttentionRule } from './causal_attention.js';
import { distillationLossRule } from './distillation_loss.js';
import { dropoutBackwardRule, dropoutRule } from './dropout.js';
import { addRule, biasAddRule, mulRule, mulScalarRule, scaleRule, subRule } from './elementwise.js';
import { conv2dBackwardDataRule, conv2dBackwardFilterRule, conv2dFusedRule, conv2dRule } from './conv2d.js';
import { convTranspose2dBackwardDataRule, convTranspose2dBackwardFilterRule, convTranspose2dRule } from './conv_transpose2d.js';
import { softmaxCrossEntropyRule } from './softmax_cross_entropy.js';
import { bceWithLogitsBackwardRule, bceWithLogitsRule, mseBackwardRule, mseRule } from './pointwise_loss.js';
import { avgPool2dBackwardRule, avgPool2dRule, maxPool2dBackwardRule, maxPool2dRule } from './pool2d.js';
import { embeddingBackwardRule, embeddingRule } from './embedding.js';
import { layerNormBackwardRule, layerNormRule } from './layer_norm.js';
import { matmulRule } from './matmul.js';
import { matmulFusedRule } from './matmul_fused.js';
import { padChannelsRule } from './pad_channels.js';
import { softmaxBackwardRule, softmaxRule } from './softmax.js';
import { expandRule, reshapeRule, stopGradientRule, sumRule } from './shape.js';
import type { LowerContext, Lowering } from '../lower.js';
import type { ScheduledOp } from '../passes/schedule.js';
import type { OpKind } from './kinds.js';
import type { OpRule, RuleTable } from './rule.js';

/** Every op's shape inference and gradient rule; an op kind missing here fails `tsc`. */
export const RULES: RuleTable = {
  matmul: matmulRule,
  matmul_fused: matmulFusedRule,
  bias_add: biasAddRule,
  activation: activationRule,
  activation_backward: activationBackwardRule,
  add: addRule,
  sub: subRule,
  mul: mulRule,
  scale: scaleRule,
  mul_scalar: mulScalarRule,
  sum: sumRule,
  expand: expandRule,
  reshape: reshapeRule,
  stop_gradient: stopGradientRule,
  softmax: softmaxRule,
  softmax_backward: softmaxBackwardRule,
  softmax_cross_entropy: softmaxCrossEntropyRule,
  distillation_loss: distillationLossRule,
  mse: mseRule,
  mse_backward: mseBackwardRule,
  bce_with_logits: bceWithLogitsRule,
  bce_with_logits_backward: bceWithLogitsBackwardRule,
  conv2d: conv2dRule,
  conv2d_fused: conv2dFusedRule,
  conv2d_backward_data: conv2dBackwardDataRule,
  conv2d_backward_filter: conv2dBackwardFilterRule,
  conv_transpose2d: convTranspose2dRule,
  conv_transpose2d_backward_data: convTranspose2dBackwardDataRule,
  conv_transpose2d_backward_filter: convTranspose2dBackwardFilterRule,
  max_pool2d: maxPool2dRule,
  max_pool2d_backward: maxPool2dBackwardRule,
  avg_pool2d: avgPool2dRule,
  avg_pool2d_backward: avgPool2dBackwardRule,
  batch_norm: batchNormRule,
  batch_norm_eval: batchNormEvalRule,
  batch_norm_backward: batchNormBackwardRule,
  dropout: dropoutRule,
  dropout_backward: dropoutBackwardRule,
  causal_attention: causalAttentionRule,
  causal_attention_backward: causalAttentionBackwardRule,
  layer_norm: layerNormRule,
  layer_norm_backward: layerNormBackwardRule,
  embedding: embeddingRule,
  embedding_backward: embeddingBackwardRule,
  pad_channels: padChannelsRule,
};

/** The rule of op kind K: the table pairs each kind with its own rule, so no cast is needed. */
export function ruleOf<K extends OpKind>(op: K): OpRule<K> {
  return RULES[op];
}

/** Lowers one scheduled op of any kind by its own rule. */
export function lowerStep<K extends OpKind>(step: ScheduledOp<K>, ctx: LowerContext): Lowering | Promise<Lowering> {
  return ruleOf<K>(step.op).lower(step, ctx);
}
