import type { ActivationSpec } from '../../shaders/lib/activations.js';
import { runOp, type Tensor } from './tensor.js';

/** Applies activation `a` to every element of `x`; NaN and infinities pass through as in PyTorch. */
export function activation(x: Tensor, a: ActivationSpec): Tensor {
  return runOp('activation', [x], { activation: a })[0];
}

/**
 * dx = dy * f'(z). `saved` is the forward output y, except where `activationSaves(a)` is 'input'
 * (GELU, and leaky_relu with a negative slope, whose output does not tell the side of zero): then
 * it is the input z.
 */
export function activationGrad(dy: Tensor, saved: Tensor, a: ActivationSpec): Tensor {
  return runOp('activation_backward', [dy, saved], { activation: a })[0];
}

/** max(x, 0), elementwise. */
export const relu = (x: Tensor) => activation(x, { kind: 'relu' });
/** x where x > 0, else `alpha`·x (default slope 0.01, as torch.nn.LeakyReLU). */
export const leakyRelu = (x: Tensor, alpha = 0.01) => activation(x, { kind: 'leaky_relu', alpha });
/** 1 / (1 + e^−x), elementwise. */
export const sigmoid = (x: Tensor) => activation(x, { kind: 'sigmoid' });
/** The hyperbolic tangent, elementwise. */
export const tanh = (x: Tensor) => activation(x, { kind: 'tanh' });
/** GELU with the erf form, as torch.nn.GELU's default. */
export const gelu = (x: Tensor) => activation(x, { kind: 'gelu' });
