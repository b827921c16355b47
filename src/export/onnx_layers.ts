import type { Activation as ActivationKind, ActivationSpec } from '../../shaders/lib/activations.js';
import { leakyAlpha } from '../../shaders/lib/activations.js';
import { AvgPool2d, Conv2d, ConvTranspose2d, MaxPool2d } from '../nn/conv.js';
import { Dropout } from '../nn/dropout.js';
import { Activation, AdaptiveAvgPool2d, Flatten, Linear, Residual, Softmax } from '../nn/layers.js';
import { BatchNorm1d, BatchNorm2d } from '../nn/normalization.js';
import type { OnnxBuilder } from './onnx_builder.js';
import { key, linear, lowering, stem, type LoweringEntry, type OnnxValue } from './onnx_lowering.js';
import { SEQUENCE_LOWERINGS } from './onnx_sequence_layers.js';
import { TRANSFORMER_LOWERINGS } from './onnx_transformer_layers.js';
import { RESNET_LOWERINGS } from './onnx_resnet_layers.js';
import { Conv3x3, HeLinear } from '../models/resnet.js';

const pads = (p: readonly [number, number]) => [p[0], p[1], p[0], p[1]];

/**
 * Each activation kind as ONNX ops. A new kind in ACTIVATIONS without an entry here fails tsc.
 * GELU is the Gelu operator from opset 20, and before it PyTorch's exact form ½·x·(1 + erf(x/√2)).
 */
const ACTIVATION_LOWERINGS: { [K in ActivationKind]: (b: OnnxBuilder, x: string, spec: ActivationSpec, at: string) => string } = {
  none: (b, x, _s, at) => b.node('Identity', [x], at),
  relu: (b, x, _s, at) => b.node('Relu', [x], at),
  leaky_relu: (b, x, s, at) => b.node('LeakyRelu', [x], at, { alpha: { float: leakyAlpha(s) } }),
  sigmoid: (b, x, _s, at) => b.node('Sigmoid', [x], at),
  tanh: (b, x, _s, at) => b.node('Tanh', [x], at),
  gelu: (b, x, _s, at) => {
    if (b.opset >= 20) return b.node('Gelu', [x], at);
    const erf = b.node('Erf', [b.node('Div', [x, b.constant(`${at}/sqrt2`, [], [Math.SQRT2])], at)], at);
    const onePlus = b.node('Add', [erf, b.constant(`${at}/one`, [], [1])], at);
    return b.node('Mul', [b.node('Mul', [x, onePlus], at), b.constant(`${at}/half`, [], [0.5])], at);
  },
};

function conv2d(layer: Conv2d, x: OnnxValue, b: OnnxBuilder): string {
  const inputs = [x.name, b.weight(key(layer, 'weight')), ...(layer.options.bias ?? true ? [b.weight(key(layer, 'bias'))] : [])];
  return b.node('Conv', inputs, stem(layer), { kernel_shape: layer.kernel, strides: layer.stride, pads: pads(layer.padding), dilations: layer.dilation, group: layer.groups });
}

function batchNorm(layer: BatchNorm1d | BatchNorm2d, x: OnnxValue, b: OnnxBuilder): string {
  const at = stem(layer);
  const c = layer.features;
  const [scale, shift] = layer.affine
    ? [b.weight(key(layer, 'weight')), b.weight(key(layer, 'bias'))]
    : [b.constant(`${at}/ones`, [c], new Array<number>(c).fill(1)), b.constant(`${at}/zeros`, [c], new Array<number>(c).fill(0))];
  const stats = [b.weight(key(layer, 'running_mean')), b.weight(key(layer, 'running_var'))];
  return b.node('BatchNormalization', [x.name, scale, shift, ...stats], at, { epsilon: { float: layer.eps } });
}

/**
 * Layer classes and their ONNX lowering, matched by exact class (a subclass may change what the
 * layer computes, so it needs its own entry). Layers evaluate as in `training: false`: Dropout is
 * the identity and BatchNorm uses its running statistics. A layer missing here is refused by
 * `exportOnnx` with an error naming it.
 */
export const ONNX_LOWERINGS: readonly LoweringEntry[] = [
  lowering(Linear, linear),
  lowering(HeLinear, linear),
  lowering(Activation, (layer, x, b) => ACTIVATION_LOWERINGS[layer.spec.kind](b, x.name, layer.spec, stem(layer))),
  lowering(Softmax, (layer, x, b) => b.node('Softmax', [x.name], stem(layer), { axis: -1 })),
  lowering(Flatten, (layer, x, b) => (x.shape.length === 2 ? x.name : b.node('Flatten', [x.name], stem(layer), { axis: 1 }))),
  lowering(Dropout, (_layer, x) => x.name),
  lowering(Conv2d, conv2d),
  lowering(Conv3x3, conv2d),
  lowering(ConvTranspose2d, (layer, x, b) => {
    const inputs = [x.name, b.weight(key(layer, 'weight')), ...(layer.options.bias ?? true ? [b.weight(key(layer, 'bias'))] : [])];
    return b.node('ConvTranspose', inputs, stem(layer), {
      kernel_shape: layer.kernel,
      strides: layer.stride,
      pads: pads(layer.padding),
      dilations: layer.dilation,
      output_padding: layer.outputPadding,
      group: 1,
    });
  }),
  lowering(MaxPool2d, (layer, x, b) => b.node('MaxPool', [x.name], stem(layer), { kernel_shape: layer.kernel, strides: layer.stride, pads: pads(layer.padding) })),
  lowering(AvgPool2d, (layer, x, b) =>
    b.node('AveragePool', [x.name], stem(layer), { kernel_shape: layer.kernel, strides: layer.stride, pads: pads(layer.padding), count_include_pad: 1 }),
  ),
  lowering(AdaptiveAvgPool2d, (layer, x, b) => b.node('GlobalAveragePool', [x.name], stem(layer))),
  lowering(Residual, (layer, x, b, lowerModule) => b.node('Add', [x.name, lowerModule(layer.inner, x).name], stem(layer))),
  lowering(BatchNorm1d, batchNorm),
  lowering(BatchNorm2d, batchNorm),
  ...SEQUENCE_LOWERINGS,
  ...TRANSFORMER_LOWERINGS,
  ...RESNET_LOWERINGS,
];
