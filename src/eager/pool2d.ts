import { ShapeError } from '../gpu/errors.js';
import {
  avgPool2dBackward as avgBackwardSpec,
  avgPool2dForward,
  globalAvgPoolBackward as globalBackwardSpec,
  globalAvgPoolProgram,
  maxPool2dBackward as maxBackwardSpec,
  maxPool2dForward,
  pool2dGeometry,
  type AvgPool2dOptions,
  type MaxPool2dOptions,
  type Pool2dGeometry,
} from '../kernels/pool2d.js';
import { launch, type Tensor } from './tensor.js';

function outShape(g: Pool2dGeometry): number[] {
  return [g.n, g.c, g.oh, g.ow];
}

function checkGrad(op: string, dy: Tensor, expected: readonly number[]): void {
  if (dy.shape.length !== expected.length || dy.shape.some((d, i) => d !== expected[i])) {
    throw new ShapeError(`${op}: dy [${dy.shape.join(', ')}] does not match the pooled output [${expected.join(', ')}]`);
  }
}

/** Max pooling of x [N, C, H, W]; argmax (u32) holds each maximum's index y*W + x within its plane. */
export function maxPool2d(x: Tensor, options: MaxPool2dOptions): { y: Tensor; argmax: Tensor } {
  const g = pool2dGeometry('maxPool2d', x.shape, options);
  const [y, argmax] = launch(maxPool2dForward(g), [x], [{ shape: outShape(g) }, { shape: outShape(g), dtype: 'u32' }]);
  return { y, argmax };
}

/** dx [inputShape]: each dy routed to its window's argmax (summed where windows overlap). */
export function maxPool2dBackward(dy: Tensor, argmax: Tensor, inputShape: readonly number[], options: MaxPool2dOptions): Tensor {
  const g = pool2dGeometry('maxPool2d backward', inputShape, options);
  checkGrad('maxPool2d backward', dy, outShape(g));
  checkGrad('maxPool2d backward (argmax)', argmax, outShape(g));
  return launch(maxBackwardSpec(g), [dy, argmax], [{ shape: inputShape }])[0];
}

/** Average pooling of x [N, C, H, W]; padding counts in the divisor unless countIncludePad is false. */
export function avgPool2d(x: Tensor, options: AvgPool2dOptions): Tensor {
  const g = pool2dGeometry('avgPool2d', x.shape, options);
  return launch(avgPool2dForward(g), [x], [{ shape: outShape(g) }])[0];
}

/** dx [inputShape]: each dy spread evenly (1 / divisor) over its window. */
export function avgPool2dBackward(dy: Tensor, inputShape: readonly number[], options: AvgPool2dOptions): Tensor {
  const g = pool2dGeometry('avgPool2d backward', inputShape, options);
  checkGrad('avgPool2d backward', dy, outShape(g));
  return launch(avgBackwardSpec(g), [dy], [{ shape: inputShape }])[0];
}

/** Mean over H and W: [N, C, H, W] -> [N, C]. */
export function globalAvgPool(x: Tensor): Tensor {
  return launch(globalAvgPoolProgram(x.shape), [x], [{ shape: x.shape.slice(0, 2) }])[0];
}

/** dx [N, C, H, W] = dy [N, C] / (H W) at every position. */
export function globalAvgPoolBackward(dy: Tensor, inputShape: readonly number[]): Tensor {
  const spec = globalBackwardSpec(inputShape);
  checkGrad('globalAvgPool backward', dy, inputShape.slice(0, 2));
  return launch(spec, [dy], [{ shape: inputShape }])[0];
}
