import type { Activation, ActivationSpec } from '../../shaders/lib/activations.js';
import {
  CONV_FILTER_CONFIGS,
  CONV_GEMM_CONFIGS,
  conv2dBackwardDataProgram,
  conv2dBackwardFilterProgram,
  conv2dOutputShape,
  conv2dParams,
  conv2dProgram,
  type Conv2dAttrs,
  type ConvFilterConfig,
  type ConvGemmConfig,
} from '../kernels/conv2d.js';
import { inferOne } from '../graph/eager_plan.js';
import type { ConvAttrs } from '../graph/ops/kinds.js';
import { programFor } from './forced_config.js';
import { launch, runOp, type Tensor } from './tensor.js';

/** Options of the eager `conv2d`: stride, padding and dilation (as torch.nn.functional.conv2d), a fused bias and activation. */
export interface Conv2dOptions extends Conv2dAttrs {
  /** [Cout], added before the activation. */
  bias?: Tensor;
  activation?: Activation | ActivationSpec;
  /**
   * Force a kernel configuration (default: the family's default; compiled plans autotune). One
   * this device cannot run raises a KernelConfigError at the call.
   */
  config?: ConvGemmConfig;
}

export function activationSpec(a: Activation | ActivationSpec | undefined): ActivationSpec {
  if (a === undefined) return { kind: 'none' };
  return typeof a === 'string' ? { kind: a } : a;
}

/** The graph op's attributes (explicit pairs) from the eager options' shorthand. */
export function convAttrs(p: { stride: readonly [number, number]; padding: readonly [number, number]; dilation: readonly [number, number] }): ConvAttrs {
  return { stride: [...p.stride], padding: [...p.padding], dilation: [...p.dilation] } as ConvAttrs;
}

/** y = activation(conv2d(x, w) + bias). x: NCHW [N, Cin, H, W]; w: [Cout, Cin, KH, KW] → y [N, Cout, OH, OW]. */
export function conv2d(x: Tensor, w: Tensor, options: Conv2dOptions = {}): Tensor {
  const activation = activationSpec(options.activation);
  const p = conv2dParams(x.shape, w.shape, { ...options, bias: options.bias !== undefined, activation });
  if (!options.config && !options.bias && activation.kind === 'none') return runOp('conv2d', [x, w], convAttrs(p))[0];
  const inputs = options.bias ? [x, w, options.bias] : [x, w];
  const attrs = { ...convAttrs(p), bias: !!options.bias, activation };
  if (!options.config) return runOp('conv2d_fused', inputs, attrs, 'conv2d')[0];
  inferOne('conv2d_fused', inputs, attrs, 'conv2d');
  const program = programFor(x.engine, 'conv2d', options.config, CONV_GEMM_CONFIGS, (c) => conv2dProgram(p, c));
  return launch(program, inputs, [{ shape: conv2dOutputShape(p) }])[0];
}

/**
 * dX of conv2d for the gradient dy of its (pre-activation) output. `inputShape` is X's shape, which
 * dy alone does not determine when stride > 1.
 */
export function conv2dBackwardData(
  dy: Tensor,
  w: Tensor,
  inputShape: readonly number[],
  attrs: Conv2dAttrs & { config?: ConvGemmConfig } = {},
): Tensor {
  const p = conv2dParams(inputShape, w.shape, attrs);
  const opAttrs = { ...convAttrs(p), inputShape: [...inputShape] };
  if (!attrs.config) return runOp('conv2d_backward_data', [dy, w], opAttrs)[0];
  inferOne('conv2d_backward_data', [dy, w], opAttrs);
  const program = programFor(dy.engine, 'conv2d_backward_data', attrs.config, CONV_GEMM_CONFIGS, (c) => conv2dBackwardDataProgram(p, c));
  return launch(program, [dy, w], [{ shape: inputShape }])[0];
}

/** dW (and with `bias: true` also dBias = sum of dy over N, H, W) of conv2d. */
export function conv2dBackwardFilter(
  x: Tensor,
  dy: Tensor,
  weightShape: readonly number[],
  attrs: Conv2dAttrs & { bias?: boolean; config?: ConvFilterConfig } = {},
): { dw: Tensor; dbias?: Tensor } {
  const p = conv2dParams(x.shape, weightShape, attrs);
  const opAttrs = { ...convAttrs(p), weightShape: [...weightShape] };
  if (!attrs.config && !p.bias) return { dw: runOp('conv2d_backward_filter', [x, dy], opAttrs)[0] };
  // The graph computes dBias apart; the kernel that also writes it runs directly.
  inferOne('conv2d_backward_filter', [x, dy], opAttrs);
  const outputs = p.bias ? [{ shape: weightShape }, { shape: [weightShape[0]] }] : [{ shape: weightShape }];
  const program = programFor(x.engine, 'conv2d_backward_filter', attrs.config, CONV_FILTER_CONFIGS, (c) => conv2dBackwardFilterProgram(p, c));
  const [dw, dbias] = launch(program, [x, dy], outputs);
  return dbias ? { dw, dbias } : { dw };
}
