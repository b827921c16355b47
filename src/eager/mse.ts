import { ShapeError } from '../gpu/errors.js';
import { mseBackward as backwardSpec, mseProgram, checkMseShapes } from '../kernels/mse.js';
import { launch, type Tensor } from './tensor.js';

/** Mean loss [1]: mean over n elements of (x - t)^2. */
export function mse(x: Tensor, targets: Tensor): Tensor {
  const n = checkMseShapes('mse', x.shape, targets.shape);
  return launch(mseProgram(n), [x, targets], [{ shape: [1] }])[0];
}

/** d loss / dx = 2 (x - t) / n, times the scalar dy [1] when given. */
export function mseBackward(x: Tensor, targets: Tensor, dy?: Tensor): Tensor {
  const n = checkMseShapes('mse backward', x.shape, targets.shape);
  if (dy && dy.size !== 1) throw new ShapeError(`mse backward: dy [${dy.shape.join(', ')}] must hold the one gradient of the scalar loss`);
  const inputs = dy ? [x, targets, dy] : [x, targets];
  return launch(backwardSpec(n, !!dy), inputs, [{ shape: x.shape }])[0];
}
