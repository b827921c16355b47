import { ShapeError } from '../gpu/errors.js';
import {
  defaultRowVariant,
  softmaxBackward as softmaxBackwardSpec,
  softmaxForward,
  softmaxRows,
  type SoftmaxVariant,
} from '../kernels/softmax.js';
import { launch, type Tensor } from './tensor.js';

/** Softmax along the last axis. `variant` forces the one-invocation or workgroup-per-row kernel; by default the adapter decides. */
export function softmax(x: Tensor, variant?: SoftmaxVariant): Tensor {
  const [rows, cols] = softmaxRows('softmax', x.shape);
  return launch(softmaxForward(rows, cols, variant ?? defaultRowVariant(cols, x.engine.info.software)), [x], [{ shape: x.shape }])[0];
}

/** Gradient of softmax from its output y: dx = y * (dy - sum(dy * y)) along the last axis. */
export function softmaxBackward(dy: Tensor, y: Tensor, variant?: SoftmaxVariant): Tensor {
  if (dy.shape.length !== y.shape.length || dy.shape.some((d, i) => d !== y.shape[i])) {
    throw new ShapeError(`softmax backward: dy [${dy.shape.join(', ')}] and y [${y.shape.join(', ')}] must have the same shape`);
  }
  const [rows, cols] = softmaxRows('softmax backward', y.shape);
  return launch(softmaxBackwardSpec(rows, cols, variant ?? defaultRowVariant(cols, y.engine.info.software)), [dy, y], [{ shape: y.shape }])[0];
}
