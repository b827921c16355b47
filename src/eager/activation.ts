import type { ActivationSpec } from '../../shaders/lib/activations.js';
import { ShapeError } from '../gpu/errors.js';
import { activationBackward, activationForward } from '../kernels/activation.js';
import { launch, type Tensor } from './tensor.js';

function sameShape(op: string, a: Tensor, b: Tensor): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new ShapeError(`${op}: shapes [${a.shape.join(', ')}] and [${b.shape.join(', ')}] must be equal`);
  }
}

export function activation(x: Tensor, a: ActivationSpec): Tensor {
  return launch(activationForward(a, x.size), [x], [{ shape: x.shape }])[0];
}

/**
 * dx = dy * f'(z). `saved` is the forward output y, except where `activationSaves(a)` is 'input'
 * (GELU, and leaky_relu with a negative slope, whose output does not tell the side of zero): then
 * it is the input z.
 */
export function activationGrad(dy: Tensor, saved: Tensor, a: ActivationSpec): Tensor {
  sameShape(`${a.kind} backward`, dy, saved);
  return launch(activationBackward(a, dy.size), [dy, saved], [{ shape: dy.shape }])[0];
}

export const relu = (x: Tensor) => activation(x, { kind: 'relu' });
export const leakyRelu = (x: Tensor, alpha = 0.01) => activation(x, { kind: 'leaky_relu', alpha });
export const sigmoid = (x: Tensor) => activation(x, { kind: 'sigmoid' });
export const tanh = (x: Tensor) => activation(x, { kind: 'tanh' });
export const gelu = (x: Tensor) => activation(x, { kind: 'gelu' });
