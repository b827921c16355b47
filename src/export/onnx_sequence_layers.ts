import { CausalSelfAttention } from '../nn/attention.js';
import { Embedding } from '../nn/embedding.js';
import { LayerNorm } from '../nn/normalization.js';
import type { OnnxBuilder } from './onnx_builder.js';
import { key, linear, lowering, stem, type LoweringEntry, type OnnxValue } from './onnx_lowering.js';

/** LayerNormalization from opset 17; before it, the same normalisation over the last axis composed of ReduceMean, Sub, Sqrt and Div. */
function layerNorm(layer: LayerNorm, x: OnnxValue, b: OnnxBuilder): string {
  const at = stem(layer);
  const [weight, bias] = [b.weight(key(layer, 'weight')), b.weight(key(layer, 'bias'))];
  if (b.opset >= 17) return b.node('LayerNormalization', [x.name, weight, bias], at, { axis: -1, epsilon: { float: layer.eps } });
  // ReduceMean takes its axes as an attribute up to opset 17, the only opsets that reach here.
  const centred = b.node('Sub', [x.name, b.node('ReduceMean', [x.name], at, { axes: [-1], keepdims: 1 })], at);
  const variance = b.node('ReduceMean', [b.node('Mul', [centred, centred], at)], at, { axes: [-1], keepdims: 1 });
  const std = b.node('Sqrt', [b.node('Add', [variance, b.constant(`${at}/eps`, [], [layer.eps])], at)], at);
  return b.node('Add', [b.node('Mul', [b.node('Div', [centred, std], at), weight], at), bias], at);
}

/**
 * Causal self-attention in standard ops on [batch, T, dim] with T fixed by the export's input
 * shape: qkv Linear → [batch, T, 3, heads, d] → q, k, v [batch, heads, T, d]; scores q·kᵀ/√d
 * [batch, heads, T, T] with the future masked to −∞ by Where over a constant lower-triangular mask;
 * softmax over keys; times v; heads merged back to [batch, T, dim]; proj Linear.
 */
function causalSelfAttention(layer: CausalSelfAttention, x: OnnxValue, b: OnnxBuilder): string {
  const at = stem(layer);
  const [tokens, dim, heads] = [x.shape[1], layer.dim, layer.heads];
  const d = dim / heads;
  const qkv = linear(layer.qkv, x, b);
  // Reshape's 0 copies the input's dimension, so the batch stays dynamic.
  const split = b.node('Reshape', [qkv, b.int64Constant(`${at}/qkv_shape`, [0, 0, 3, heads, d])], at);
  const stacked = b.node('Transpose', [split], at, { perm: [2, 0, 3, 1, 4] });
  const part = (i: number) => b.node('Gather', [stacked, b.int64Constant(`${at}/index${i}`, [i], [])], at, { axis: 0 });
  const [q, k, v] = [part(0), part(1), part(2)];
  const scores = b.node('Mul', [b.node('MatMul', [q, b.node('Transpose', [k], at, { perm: [0, 1, 3, 2] })], at), b.constant(`${at}/scale`, [], [1 / Math.sqrt(d)])], at);
  const allowed: boolean[] = [];
  for (let query = 0; query < tokens; query++) for (let keyIndex = 0; keyIndex < tokens; keyIndex++) allowed.push(keyIndex <= query);
  const masked = b.node('Where', [b.boolConstant(`${at}/causal_mask`, [tokens, tokens], allowed), scores, b.constant(`${at}/minus_inf`, [], [-Infinity])], at);
  const attended = b.node('MatMul', [b.node('Softmax', [masked], at, { axis: -1 }), v], at);
  const merged = b.node('Transpose', [attended], at, { perm: [0, 2, 1, 3] });
  const rows = b.node('Reshape', [merged, b.int64Constant(`${at}/merged_shape`, [0, 0, dim])], at);
  return linear(layer.proj, { name: rows, shape: x.shape, dtype: 'f32' }, b);
}

/** torch.nn.Embedding as Gather of rows of the weight (the indices are the graph's int64 input). */
function embedding(layer: Embedding, x: OnnxValue, b: OnnxBuilder): string {
  return b.node('Gather', [b.weight(key(layer, 'weight')), x.name], stem(layer), { axis: 0 });
}

/** The layers of sequence models (character transformers). */
export const SEQUENCE_LOWERINGS: readonly LoweringEntry[] = [
  lowering(LayerNorm, layerNorm),
  lowering(Embedding, embedding),
  lowering(CausalSelfAttention, causalSelfAttention),
];
