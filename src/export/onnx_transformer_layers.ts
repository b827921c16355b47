import { CharTransformer, TransformerBlock } from '../models/transformer.js';
import type { Module } from '../nn/module.js';
import type { OnnxBuilder } from './onnx_builder.js';
import { key, lowering, stem, type LoweringEntry, type OnnxValue } from './onnx_lowering.js';

type LowerModule = (m: Module, x: OnnxValue) => OnnxValue;

/** x + attn(ln_1(x)), then + mlp(ln_2(·)) with the MLP's fc, GELU and proj; dropout is the identity in evaluation. */
function transformerBlock(layer: TransformerBlock, x: OnnxValue, b: OnnxBuilder, lowerModule: LowerModule): string {
  const at = stem(layer);
  const attended = lowerModule(layer.attn, lowerModule(layer.ln_1, x));
  const h: OnnxValue = { ...x, name: b.node('Add', [x.name, attended.name], at) };
  const mlp = [layer.mlp.fc, layer.mlp.act, layer.mlp.proj].reduce((v, m) => lowerModule(m, v), lowerModule(layer.ln_2, h));
  return b.node('Add', [h.name, mlp.name], at);
}

/** Token embedding (Gather of int64 ids) plus the learned position table [context, dim] (broadcast over the batch), the blocks, ln_f, lm_head. */
function charTransformer(layer: CharTransformer, x: OnnxValue, b: OnnxBuilder, lowerModule: LowerModule): string {
  const tokens = lowerModule(layer.wte, x);
  const positions = b.weight(key(layer, 'transformer.wpe.weight'));
  let h: OnnxValue = { ...tokens, name: b.node('Add', [tokens.name, positions], stem(layer)) };
  for (const block of layer.blocks) h = lowerModule(block, h);
  return lowerModule(layer.lm_head, lowerModule(layer.ln_f, h)).name;
}

/** The character transformer (src/models/transformer.ts) and its blocks. */
export const TRANSFORMER_LOWERINGS: readonly LoweringEntry[] = [lowering(TransformerBlock, transformerBlock), lowering(CharTransformer, charTransformer)];
