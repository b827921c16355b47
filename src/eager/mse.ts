import { ShapeError } from '../gpu/errors.js';
import { inferOne } from '../graph/eager_plan.js';
import { pointwiseLossBackward } from '../kernels/pointwise_loss.js';
import { launch, runOp, type Tensor } from './tensor.js';

/** Mean loss [1]: mean over n elements of (x - t)^2. */
export function mse(x: Tensor, targets: Tensor): Tensor {
  return runOp('mse', [x, targets], {})[0];
}

/** d loss / dx = 2 (x - t) / n, times the scalar dy [1] when given. */
export function mseBackward(x: Tensor, targets: Tensor, dy?: Tensor): Tensor {
  if (!dy) return runOp('mse_backward', [x, targets], {})[0];
  inferOne('mse_backward', [x, targets], {});
  if (dy.size !== 1) throw new ShapeError(`mse backward: dy [${dy.shape.join(', ')}] must hold the one gradient of the scalar loss`);
  return launch(pointwiseLossBackward('mse', x.size, true), [x, targets, dy], [{ shape: x.shape }])[0];
}
