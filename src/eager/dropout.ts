import { ShapeError } from '../gpu/errors.js';
import { dropoutBackward, dropoutForward, type DropoutConfig } from '../kernels/dropout.js';
import { launch, type Tensor } from './tensor.js';

/**
 * Train-mode dropout: y = x ⊙ mask / (1 − p). The mask is a function of (seed, step, element index),
 * so nothing is stored; pass the same config to dropoutGrad. Eval mode is the identity (no call).
 */
export function dropout(x: Tensor, config: DropoutConfig): Tensor {
  checkFloat('dropout', x);
  return launch(dropoutForward(x.size, config), [x], [{ shape: x.shape }])[0];
}

/** dx = dy ⊙ mask / (1 − p), regenerating the forward mask from the same (p, seed, step). */
export function dropoutGrad(dy: Tensor, config: DropoutConfig): Tensor {
  checkFloat('dropout_backward', dy);
  return launch(dropoutBackward(dy.size, config), [dy], [{ shape: dy.shape }])[0];
}

function checkFloat(op: string, t: Tensor): void {
  if (t.dtype !== 'f32') throw new ShapeError(`${op}: expects an f32 tensor, got ${t}`);
}
