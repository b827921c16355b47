import { inferOne } from '../graph/eager_plan.js';
import { softmaxBackward as softmaxBackwardSpec, softmaxForward, softmaxRows, type SoftmaxVariant } from '../kernels/softmax.js';
import { launch, runOp, type Tensor } from './tensor.js';

/** Softmax along the last axis. `variant` forces the one-invocation or workgroup-per-row kernel; by default the adapter decides. */
export function softmax(x: Tensor, variant?: SoftmaxVariant): Tensor {
  if (!variant) return runOp('softmax', [x], {})[0];
  inferOne('softmax', [x], {});
  const [rows, cols] = softmaxRows('softmax', x.shape);
  return launch(softmaxForward(rows, cols, variant), [x], [{ shape: x.shape }])[0];
}

/** Gradient of softmax from its output y: dx = y * (dy - sum(dy * y)) along the last axis. */
export function softmaxBackward(dy: Tensor, y: Tensor, variant?: SoftmaxVariant): Tensor {
  if (!variant) return runOp('softmax_backward', [dy, y], {})[0];
  inferOne('softmax_backward', [dy, y], {});
  const [rows, cols] = softmaxRows('softmax_backward', y.shape);
  return launch(softmaxBackwardSpec(rows, cols, variant), [dy, y], [{ shape: y.shape }])[0];
}
