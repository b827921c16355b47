import { activationBackwardRule, activationRule } from './activation.js';
import { addRule, biasAddRule, mulRule, mulScalarRule, scaleRule, subRule } from './elementwise.js';
import { mseBackwardRule, mseRule, softmaxCrossEntropyRule } from './loss.js';
import { matmulRule } from './matmul.js';
import { matmulFusedRule } from './matmul_fused.js';
import { expandRule, reshapeRule, stopGradientRule, sumRule } from './shape.js';
import type { RuleTable } from './rule.js';

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
  softmax_cross_entropy: softmaxCrossEntropyRule,
  mse: mseRule,
  mse_backward: mseBackwardRule,
};
