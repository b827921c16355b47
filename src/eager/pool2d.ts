import { ShapeError } from '../gpu/errors.js';
import {
  globalAvgPoolBackward as globalBackwardSpec,
  globalAvgPoolProgram,
  pool2dGeometry,
  type AvgPool2dOptions,
  type MaxPool2dOptions,
  type Pool2dGeometry,
} from '../kernels/pool2d.js';
import { launch, runOp, type Tensor } from './tensor.js';

function checkGrad(op: string, dy: Tensor, expected: readonly number[]): void {
  if (dy.shape.length !== expected.length || dy.shape.some((d, i) => d !== expected[i])) {
    throw new ShapeError(`${op}: dy [${dy.shape.join(', ')}] does not match the pooled output [${expected.join(', ')}]`);
  }
}

type Pair2 = [number, number];
const window = (g: Pool2dGeometry) => ({ kernel: [g.kh, g.kw] as Pair2, stride: [g.sh, g.sw] as Pair2, padding: [g.ph, g.pw] as Pair2 });
const maxAttrs = (g: Pool2dGeometry) => ({ ...window(g), dilation: [g.dh, g.dw] as Pair2 });
const avgAttrs = (g: Pool2dGeometry) => ({ ...window(g), countIncludePad: g.includePad });

/** Max pooling of x [N, C, H, W]; argmax (u32) holds each maximum's index y*W + x within its plane. */
export function maxPool2d(x: Tensor, options: MaxPool2dOptions): { y: Tensor; argmax: Tensor } {
  const g = pool2dGeometry('maxPool2d', x.shape, options);
  const [y, argmax] = runOp('max_pool2d', [x], maxAttrs(g));
  return { y, argmax };
}

/** dx [inputShape]: each dy routed to its window's argmax (summed where windows overlap). */
export function maxPool2dBackward(dy: Tensor, argmax: Tensor, inputShape: readonly number[], options: MaxPool2dOptions): Tensor {
  const g = pool2dGeometry('maxPool2d backward', inputShape, options);
  // The graph makes dy itself; an eager caller may pass any tensor, so check it here.
  checkGrad('maxPool2d backward', dy, [g.n, g.c, g.oh, g.ow]);
  checkGrad('maxPool2d backward (argmax)', argmax, [g.n, g.c, g.oh, g.ow]);
  return runOp('max_pool2d_backward', [dy, argmax], { ...maxAttrs(g), inputShape: [...inputShape] })[0];
}

/** Average pooling of x [N, C, H, W]; padding counts in the divisor unless countIncludePad is false. */
export function avgPool2d(x: Tensor, options: AvgPool2dOptions): Tensor {
  const g = pool2dGeometry('avgPool2d', x.shape, options);
  return runOp('avg_pool2d', [x], avgAttrs(g))[0];
}

/** dx [inputShape]: each dy spread evenly (1 / divisor) over its window. */
export function avgPool2dBackward(dy: Tensor, inputShape: readonly number[], options: AvgPool2dOptions): Tensor {
  const g = pool2dGeometry('avgPool2d backward', inputShape, options);
  checkGrad('avgPool2d backward', dy, [g.n, g.c, g.oh, g.ow]);
  return runOp('avg_pool2d_backward', [dy], { ...avgAttrs(g), inputShape: [...inputShape] })[0];
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
