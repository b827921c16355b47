import { ShapeError } from '../gpu/errors.js';
import { bceWithLogitsBackward as backwardSpec, bceWithLogitsProgram, checkBceWithLogitsShapes } from '../kernels/bce_with_logits.js';
import { launch, type Tensor } from './tensor.js';

/** Mean loss [1]: mean over n elements of max(x, 0) - x t + log(1 + exp(-|x|)). */
export function bceWithLogits(x: Tensor, targets: Tensor): Tensor {
  const n = checkBceWithLogitsShapes('bceWithLogits', x.shape, targets.shape);
  return launch(bceWithLogitsProgram(n), [x, targets], [{ shape: [1] }])[0];
}

/** d loss / dx = (sigmoid(x) - t) / n, times the scalar dy [1] when given. */
export function bceWithLogitsBackward(x: Tensor, targets: Tensor, dy?: Tensor): Tensor {
  const n = checkBceWithLogitsShapes('bceWithLogits backward', x.shape, targets.shape);
  if (dy && dy.size !== 1) throw new ShapeError(`bceWithLogits backward: dy [${dy.shape.join(', ')}] must hold the one gradient of the scalar loss`);
  const inputs = dy ? [x, targets, dy] : [x, targets];
  return launch(backwardSpec(n, !!dy), inputs, [{ shape: x.shape }])[0];
}
