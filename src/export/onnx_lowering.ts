import type { DType } from '../graph/ir.js';
import type { Linear } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import type { OnnxBuilder } from './onnx_builder.js';

/** A value flowing between layers: its name in the ONNX graph, its shape (batch first) and dtype. */
export interface OnnxValue {
  name: string;
  shape: readonly number[];
  dtype: DType;
}

/**
 * Adds `layer`'s ops to the graph, reading its input `x`; returns the name of its output. A layer
 * that wraps others (Residual) lowers them with `lowerModule`.
 */
export type LayerLowering<L extends Module> = (layer: L, x: OnnxValue, b: OnnxBuilder, lowerModule: (m: Module, x: OnnxValue) => OnnxValue) => string;

type LayerClass<L extends Module> = abstract new (...args: never[]) => L;

export interface LoweringEntry {
  layer: LayerClass<Module>;
  lower: LayerLowering<Module>;
}

/** A table entry: the class and its lowering, typed together. */
export function lowering<L extends Module>(layer: LayerClass<L>, lower: LayerLowering<L>): LoweringEntry {
  return { layer, lower: lower as LayerLowering<Module> };
}

/** The state-dict key of `layer`'s tensor `name`. */
export const key = (layer: Module, name: string) => (layer.path ? `${layer.path}.${name}` : name);

/** The stem of the value names a layer's nodes produce. */
export const stem = (layer: Module) => layer.path || 'model';

/** torch.nn.Linear: Gemm on [batch, in]; on [batch, …, in] MatMul by Wᵀ (folded by the runtime) and a broadcast bias. */
export function linear(layer: Linear, x: OnnxValue, b: OnnxBuilder): string {
  const at = stem(layer);
  const weight = b.weight(key(layer, 'weight'));
  const bias = layer.options.bias ?? true ? [b.weight(key(layer, 'bias'))] : [];
  if (x.shape.length === 2) return b.node('Gemm', [x.name, weight, ...bias], at, { transB: 1 });
  const y = b.node('MatMul', [x.name, b.node('Transpose', [weight], at, { perm: [1, 0] })], at);
  return bias.length ? b.node('Add', [y, bias[0]], at) : y;
}
