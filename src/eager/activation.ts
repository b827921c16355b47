import type { ActivationSpec } from '../../shaders/lib/activations.js';
import { runOp, type Tensor } from './tensor.js';

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

export const relu = (x: Tensor) => activation(x, { kind: 'relu' });
export const leakyRelu = (x: Tensor, alpha = 0.01) => activation(x, { kind: 'leaky_relu', alpha });
export const sigmoid = (x: Tensor) => activation(x, { kind: 'sigmoid' });
export const tanh = (x: Tensor) => activation(x, { kind: 'tanh' });
export const gelu = (x: Tensor) => activation(x, { kind: 'gelu' });
