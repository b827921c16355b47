import { ShapeError } from '../gpu/errors.js';
import { product } from '../kernels/geometry.js';
import { broadcastAxisSpec, reduceAxisBackward, reduceAxisProgram, sumAllProgram } from '../kernels/reduce.js';
import { launch, runOp, type Tensor } from './tensor.js';

/** Sum of x along `axis` (negative counts from the end); the axis is dropped from the shape. */
export function sum(x: Tensor, axis: number): Tensor {
  return runOp('sum', [x], { axis })[0];
}

/** Mean of x along `axis`; the axis is dropped from the shape. */
export function mean(x: Tensor, axis: number): Tensor {
  const { program, shape } = reduceAxisProgram('mean', x.shape, axis);
  return launch(program, [x], [{ shape }])[0];
}

/** Sum of every element as a [1] tensor, by a fixed-order tree: the same bits on every run. */
export function sumAll(x: Tensor): Tensor {
  return launch(sumAllProgram(x.size), [x], [{ shape: [1] }])[0];
}

/** Gradient of sum(x, axis): dy (x's shape without the axis) broadcast back to `shape`. */
export function sumBackward(dy: Tensor, shape: readonly number[], axis: number): Tensor {
  return launch(reduceAxisBackward('sum', shape, axis, dy.shape), [dy], [{ shape }])[0];
}

/** Gradient of mean(x, axis): dy / shape[axis] broadcast back to `shape`. */
export function meanBackward(dy: Tensor, shape: readonly number[], axis: number): Tensor {
  return launch(reduceAxisBackward('mean', shape, axis, dy.shape), [dy], [{ shape }])[0];
}

/** Gradient of sumAll: the scalar dy [1] copied to every element of `shape`. */
export function sumAllBackward(dy: Tensor, shape: readonly number[]): Tensor {
  if (dy.size !== 1) throw new ShapeError(`sumAll backward: dy [${dy.shape.join(', ')}] must hold one value`);
  return launch(broadcastAxisSpec(1, product(shape), 1), [dy], [{ shape }])[0];
}
