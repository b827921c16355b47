import type { Graph, Value } from '../../src/graph/ir.js';
import type { OpKind } from '../../src/graph/ops/kinds.js';
import type { ScheduledOp } from '../../src/graph/passes/schedule.js';
import { activationBackwardRef, activationRef } from './activation.js';
import { batchNormBackwardOpRef, batchNormEvalRef, batchNormOpRef } from './batch_norm.js';
import { bceWithLogitsBackwardRef, bceWithLogitsRef } from './bce_with_logits.js';
import { causalAttentionBackwardOpRef, causalAttentionOpRef } from './causal_attention.js';
import { conv2dBackwardDataRef, conv2dBackwardFilterRef, conv2dFusedRef, conv2dOpRef } from './conv2d.js';
import { convTranspose2dBackwardDataRef, convTranspose2dBackwardFilterRef, convTranspose2dOpRef } from './conv_transpose2d.js';
import { distillationLossRef } from './distillation_loss.js';
import { dropoutBackwardRef, dropoutOpRef } from './dropout.js';
import { addRef, biasAddRef, mulRef, mulScalarRef, reshapeRef, scaleRef, stopGradientRef, subRef } from './elementwise.js';
import { embeddingBackwardOpRef, embeddingOpRef } from './embedding.js';
import { layerNormBackwardOpRef, layerNormOpRef } from './layer_norm.js';
import { matmulFusedRef, matmulOpRef } from './matmul.js';
import { mseBackwardRef, mseRef } from './mse.js';
import { padChannelsOpRef } from './pad_channels.js';
import { avgPool2dBackwardRef, avgPool2dRef, maxPool2dBackwardRef, maxPool2dRef } from './pool2d.js';
import { expandRef, sumRef } from './reduce.js';
import type { ReferenceTable } from './ref_op.js';
import { softmaxBackwardRef, softmaxRef } from './softmax.js';
import { softmaxCrossEntropyRef } from './softmax_cross_entropy.js';

/** The float64 reference of every op kind, each written in its op's own reference file. */
export const REFERENCE: ReferenceTable = {
  matmul: matmulOpRef,
  matmul_fused: matmulFusedRef,
  bias_add: biasAddRef,
  activation: activationRef,
  activation_backward: activationBackwardRef,
  add: addRef,
  sub: subRef,
  mul: mulRef,
  scale: scaleRef,
  mul_scalar: mulScalarRef,
  sum: sumRef,
  expand: expandRef,
  reshape: reshapeRef,
  stop_gradient: stopGradientRef,
  softmax: softmaxRef,
  softmax_backward: softmaxBackwardRef,
  softmax_cross_entropy: softmaxCrossEntropyRef,
  distillation_loss: distillationLossRef,
  mse: mseRef,
  mse_backward: mseBackwardRef,
  bce_with_logits: bceWithLogitsRef,
  bce_with_logits_backward: bceWithLogitsBackwardRef,
  conv2d: conv2dOpRef,
  conv2d_fused: conv2dFusedRef,
  conv2d_backward_data: conv2dBackwardDataRef,
  conv2d_backward_filter: conv2dBackwardFilterRef,
  conv_transpose2d: convTranspose2dOpRef,
  conv_transpose2d_backward_data: convTranspose2dBackwardDataRef,
  conv_transpose2d_backward_filter: convTranspose2dBackwardFilterRef,
  max_pool2d: maxPool2dRef,
  max_pool2d_backward: maxPool2dBackwardRef,
  avg_pool2d: avgPool2dRef,
  avg_pool2d_backward: avgPool2dBackwardRef,
  batch_norm: batchNormOpRef,
  batch_norm_eval: batchNormEvalRef,
  batch_norm_backward: batchNormBackwardOpRef,
  dropout: dropoutOpRef,
  dropout_backward: dropoutBackwardRef,
  causal_attention: causalAttentionOpRef,
  causal_attention_backward: causalAttentionBackwardOpRef,
  layer_norm: layerNormOpRef,
  layer_norm_backward: layerNormBackwardOpRef,
  embedding: embeddingOpRef,
  embedding_backward: embeddingBackwardOpRef,
  pad_channels: padChannelsOpRef,
};

/** Runs one step by its kind's reference (the table pairs each kind with its own entry). */
function referenceOf<K extends OpKind>(step: ScheduledOp<K>, x: readonly Float64Array[], run: number): Float64Array[] {
  const ref: ReferenceTable[K] = REFERENCE[step.op];
  return ref(x, step, run);
}

/**
 * Float64 interpreter for graphs, written from each op's definition; tests autodiff without a GPU.
 * `run` is the compiled step's run index (dropout's mask stream). batch_norm updates the running
 * statistics it is fed IN PLACE (the arrays in `feeds`), as the GPU kernel does.
 */
export function evaluate(g: Graph, feeds: Map<Value, Float64Array>, upTo = g.nodes.length, run = 0): Map<Value, Float64Array> {
  return evaluateOps(g.nodes.slice(0, upTo), feeds, run);
}

/** Evaluates a list of ops in order (a graph's nodes or a schedule after passes). */
export function evaluateOps(ops: readonly ScheduledOp[], feeds: Map<Value, Float64Array>, run = 0): Map<Value, Float64Array> {
  const env = new Map(feeds);
  for (const step of ops) {
    const x = step.inputs.map((v) => {
      const data = env.get(v);
      if (!data) throw new Error(`no value for ${v}`);
      return data;
    });
    const results = referenceOf(step, x, run);
    step.outputs.forEach((v, i) => env.set(v, results[i]));
  }
  return env;
}
