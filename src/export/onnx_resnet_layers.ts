import { BasicBlock, PaddedShortcut, ResNet } from '../models/resnet.js';
import type { Module } from '../nn/module.js';
import type { OnnxBuilder } from './onnx_builder.js';
import { lowering, stem, type LoweringEntry, type OnnxValue } from './onnx_lowering.js';

type LowerModule = (m: Module, x: OnnxValue) => OnnxValue;

/** Lowers `modules` one after another from `x`. */
const chain = (modules: readonly Module[], x: OnnxValue, lowerModule: LowerModule) => modules.reduce((v, m) => lowerModule(m, v), x);
const relu = (b: OnnxBuilder, x: OnnxValue, at: string): OnnxValue => ({ ...x, name: b.node('Relu', [x.name], at) });

/** relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)). */
function basicBlock(layer: BasicBlock, x: OnnxValue, b: OnnxBuilder, lowerModule: LowerModule): string {
  const at = stem(layer);
  const y = chain([layer.conv2, layer.bn2], relu(b, chain([layer.conv1, layer.bn1], x, lowerModule), at), lowerModule);
  const skip = layer.shortcut ? lowerModule(layer.shortcut, x) : x;
  return b.node('Relu', [b.node('Add', [y.name, skip.name], at)], at);
}

/** Option A: every stride-th pixel (an average pool of window 1, as the engine computes it), then zero channels either side (Pad). */
function paddedShortcut(layer: PaddedShortcut, x: OnnxValue, b: OnnxBuilder): string {
  const at = `${stem(layer)}/shortcut`;
  const s = layer.stride;
  const sub = s === 1 ? x.name : b.node('AveragePool', [x.name], at, { kernel_shape: [1, 1], strides: [s, s] });
  const before = Math.floor((layer.outChannels - layer.inChannels) / 2);
  const after = layer.outChannels - layer.inChannels - before;
  return b.node('Pad', [sub, b.int64Constant(`${at}/pads`, [0, before, 0, 0, 0, after, 0, 0])], at);
}

/** relu(bn1(conv1(x))), the three stages, global average pooling, flatten, fc. */
function resnet(layer: ResNet, x: OnnxValue, b: OnnxBuilder, lowerModule: LowerModule): string {
  const at = stem(layer);
  const h = chain(layer.layers, relu(b, chain([layer.conv1, layer.bn1], x, lowerModule), at), lowerModule);
  const pooled = b.node('Flatten', [b.node('GlobalAveragePool', [h.name], at)], at, { axis: 1 });
  return lowerModule(layer.fc, { name: pooled, shape: h.shape.slice(0, 2), dtype: 'f32' }).name;
}

/** The CIFAR ResNet (src/models/resnet.ts), its blocks and shortcuts; its convolutions and fc are in ONNX_LOWERINGS as Conv2d and Linear. */
export const RESNET_LOWERINGS: readonly LoweringEntry[] = [lowering(BasicBlock, basicBlock), lowering(PaddedShortcut, paddedShortcut), lowering(ResNet, resnet)];
