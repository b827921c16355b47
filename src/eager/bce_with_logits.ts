import { ShapeError } from '../gpu/errors.js';
import { inferOne } from '../graph/eager_plan.js';
import { pointwiseLossBackward } from '../kernels/pointwise_loss.js';
import { launch, runOp, type Tensor } from './tensor.js';

/** Mean loss [1]: mean over n elements of max(x, 0) - x t + log(1 + exp(-|x|)). */
export function bceWithLogits(x: Tensor, targets: Tensor): Tensor {
  return runOp('bce_with_logits', [x, targets], {})[0];
}

/** d loss / dx = (sigmoid(x) - t) / n, times the scalar dy [1] when given. */
export function bceWithLogitsBackward(x: Tensor, targets: Tensor, dy?: Tensor): Tensor {
  if (!dy) return runOp('bce_with_logits_backward', [x, targets], {})[0];
  inferOne('bce_with_logits_backward', [x, targets], {});
  if (dy.size !== 1) throw new ShapeError(`bceWithLogits backward: dy [${dy.shape.join(', ')}] must hold the one gradient of the scalar loss`);
  return launch(pointwiseLossBackward('bce_with_logits', x.size, true), [x, targets, dy], [{ shape: x.shape }])[0];
}
