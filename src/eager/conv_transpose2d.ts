import type { Activation, ActivationSpec } from '../../shaders/lib/activations.js';
import { CONV_FILTER_CONFIGS, CONV_GEMM_CONFIGS, type ConvFilterConfig, type ConvGemmConfig } from '../kernels/conv2d.js';
import {
  convTranspose2dBackwardDataProgram,
  convTranspose2dBackwardFilterProgram,
  convTranspose2dOutputShape,
  convTranspose2dParams,
  convTranspose2dProgram,
  type ConvTranspose2dAttrs,
  type ConvTranspose2dParams,
} from '../kernels/conv_transpose2d.js';
import type { ConvTransposeAttrs } from '../graph/ops/kinds.js';
import { ShapeError } from '../gpu/errors.js';
import { inferOne } from '../graph/eager_plan.js';
import { activationSpec, convAttrs } from './conv2d.js';
import { programFor } from './forced_config.js';
import { launch, runOp, type Tensor } from './tensor.js';

const transposeAttrs = (p: ConvTranspose2dParams): ConvTransposeAttrs => ({ ...convAttrs(p), outputPadding: [...p.outputPadding] as [number, number] });

/** Options of the eager `convTranspose2d`: stride, padding, output padding and dilation (as torch.nn.functional.conv_transpose2d), a fused bias and activation. */
export interface ConvTranspose2dOptions extends ConvTranspose2dAttrs {
  /** [Cout], added before the activation. */
  bias?: Tensor;
  activation?: Activation | ActivationSpec;
  /** Force a kernel configuration; one this device cannot run raises a KernelConfigError at the call. */
  config?: ConvGemmConfig;
}

/** y = activation(conv_transpose2d(x, w) + bias). x: [N, Cin, H, W]; w: [Cin, Cout, KH, KW] → [N, Cout, OH, OW]. */
export function convTranspose2d(x: Tensor, w: Tensor, options: ConvTranspose2dOptions = {}): Tensor {
  const p = convTranspose2dParams(x.shape, w.shape, {
    ...options,
    bias: options.bias !== undefined,
    activation: activationSpec(options.activation),
  });
  if (!options.config && !options.bias && !options.activation) return runOp('conv_transpose2d', [x, w], transposeAttrs(p))[0];
  inferOne('conv_transpose2d', [x, w], transposeAttrs(p));
  if (options.bias && options.bias.shape.join() !== String(w.shape[1])) {
    throw new ShapeError(`conv_transpose2d: bias [${options.bias.shape.join(', ')}] must be [${w.shape[1]}], one per output channel`);
  }
  const inputs = options.bias ? [x, w, options.bias] : [x, w];
  const program = programFor(x.engine, 'conv_transpose2d', options.config, CONV_GEMM_CONFIGS, (c) => convTranspose2dProgram(p, c));
  return launch(program, inputs, [{ shape: convTranspose2dOutputShape(p) }])[0];
}

/** dX of conv_transpose2d for the gradient dy of its (pre-activation) output; `inputShape` is X's shape. */
export function convTranspose2dBackwardData(
  dy: Tensor,
  w: Tensor,
  inputShape: readonly number[],
  attrs: ConvTranspose2dAttrs & { config?: ConvGemmConfig } = {},
): Tensor {
  const p = convTranspose2dParams(inputShape, w.shape, attrs);
  const opAttrs = { ...transposeAttrs(p), inputShape: [...inputShape] };
  if (!attrs.config) return runOp('conv_transpose2d_backward_data', [dy, w], opAttrs)[0];
  inferOne('conv_transpose2d_backward_data', [dy, w], opAttrs);
  const program = programFor(dy.engine, 'conv_transpose2d_backward_data', attrs.config, CONV_GEMM_CONFIGS, (c) => convTranspose2dBackwardDataProgram(p, c));
  return launch(program, [dy, w], [{ shape: inputShape }])[0];
}

/** dW [Cin, Cout, KH, KW] (and with `bias: true` also dBias [Cout]) of conv_transpose2d. */
export function convTranspose2dBackwardFilter(
  x: Tensor,
  dy: Tensor,
  weightShape: readonly number[],
  attrs: ConvTranspose2dAttrs & { bias?: boolean; config?: ConvFilterConfig } = {},
): { dw: Tensor; dbias?: Tensor } {
  const p = convTranspose2dParams(x.shape, weightShape, attrs);
  const opAttrs = { ...transposeAttrs(p), weightShape: [...weightShape] };
  if (!attrs.config && !p.bias) return { dw: runOp('conv_transpose2d_backward_filter', [x, dy], opAttrs)[0] };
  inferOne('conv_transpose2d_backward_filter', [x, dy], opAttrs);
  const outputs = p.bias ? [{ shape: weightShape }, { shape: [weightShape[1]] }] : [{ shape: weightShape }];
  const program = programFor(x.engine, 'conv_transpose2d_backward_filter', attrs.config, CONV_FILTER_CONFIGS, (c) => convTranspose2dBackwardFilterProgram(p, c));
  const [dw, dbias] = launch(program, [x, dy], outputs);
  return dbias ? { dw, dbias } : { dw };
}
