import { ShapeError } from '../gpu/errors.js';
import {
  binaryBackwardProgram,
  binaryForward,
  broadcastLayout,
  whereBackward as whereBackwardSpec,
  whereForward,
  type BinaryOp,
} from '../kernels/elementwise.js';
import { launch, runOp, type Tensor } from './tensor.js';

/** How the eager binary ops broadcast `b` against `a`. */
export interface BroadcastOptions {
  /** Align b's first dimension with this dimension of a, instead of aligning the last dimensions. */
  axis?: number;
}

/** Gradients of a binary op with respect to each operand, reduced to its shape. */
export interface BinaryGrads {
  da: Tensor;
  db: Tensor;
}

const sameShapes = (a: Tensor, b: Tensor) => a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);

/**
 * Equal shapes run the graph's op, a per-channel b of `add` its bias_add; other broadcasts (a [1]
 * operand, a channel block) the broadcasting kernel the graph ops lower to.
 */
function binary(op: BinaryOp, a: Tensor, b: Tensor, options: BroadcastOptions): Tensor {
  if (sameShapes(a, b) && options.axis === undefined) return runOp(op, [a, b], {})[0];
  if (op === 'add' && b.shape.length === 1 && b.shape[0] > 1) return runOp('bias_add', [a, b], { axis: options.axis ?? -1 }, op)[0];
  const layout = broadcastLayout(op, a.shape, b.shape, options.axis);
  return launch(binaryForward(op, layout), [a, b], [{ shape: a.shape }])[0];
}

/** a + b, b broadcast over a (same shape, a bias [C] over [N, C], [C] at axis 1 of [N, C, H, W], ...). */
export const add = (a: Tensor, b: Tensor, options: BroadcastOptions = {}) => binary('add', a, b, options);
/** a - b, b broadcast over a. */
export const sub = (a: Tensor, b: Tensor, options: BroadcastOptions = {}) => binary('sub', a, b, options);
/** a * b, b broadcast over a. */
export const mul = (a: Tensor, b: Tensor, options: BroadcastOptions = {}) => binary('mul', a, b, options);

function additiveBackward(op: 'add' | 'sub', dy: Tensor, bShape: readonly number[], options: BroadcastOptions): BinaryGrads {
  const layout = broadcastLayout(`${op} backward`, dy.shape, bShape, options.axis);
  const [da, db] = launch(binaryBackwardProgram(op, layout), [dy], [{ shape: dy.shape }, { shape: bShape }]);
  return { da, db };
}

/** Gradients of a + b from dy (a's shape): da = dy, db = dy summed over b's broadcast dimensions. */
export const addBackward = (dy: Tensor, bShape: readonly number[], options: BroadcastOptions = {}) =>
  additiveBackward('add', dy, bShape, options);
/** Gradients of a - b: da = dy, db = -(dy summed over b's broadcast dimensions). */
export const subBackward = (dy: Tensor, bShape: readonly number[], options: BroadcastOptions = {}) =>
  additiveBackward('sub', dy, bShape, options);

/** Gradients of a * b: da = dy * b (broadcast), db = (dy * a) summed over b's broadcast dimensions. */
export function mulBackward(dy: Tensor, a: Tensor, b: Tensor, options: BroadcastOptions = {}): BinaryGrads {
  sameShape('mul backward', dy, a, 'dy', 'a');
  const layout = broadcastLayout('mul backward', a.shape, b.shape, options.axis);
  const [da, db] = launch(binaryBackwardProgram('mul', layout), [dy, a, b], [{ shape: a.shape }, { shape: b.shape }]);
  return { da, db };
}

/** x * s + shift for scalars s and shift. */
export const scale = (x: Tensor, s: number, shift = 0): Tensor => runOp('scale', [x], { scale: s, shift })[0];

/** Gradient of x * s + shift: dx = dy * s. */
export const scaleBackward = (dy: Tensor, s: number): Tensor => scale(dy, s);

function sameShape(op: string, x: Tensor, y: Tensor, xName: string, yName: string): void {
  if (!sameShapes(x, y)) {
    throw new ShapeError(`${op}: ${xName} [${x.shape.join(', ')}] and ${yName} [${y.shape.join(', ')}] must have the same shape`);
  }
}

function condType(op: string, cond: Tensor): 'u32' | 'f32' {
  if (cond.dtype === 'i32') throw new ShapeError(`${op}: cond must be a u32 or f32 mask, got i32; upload it as u32`);
  return cond.dtype;
}

/** a where cond != 0, else b; cond is a u32 or f32 mask of the same shape. */
export function where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  sameShape('where', cond, a, 'cond', 'a');
  sameShape('where', a, b, 'a', 'b');
  return launch(whereForward(a.size, condType('where', cond)), [cond, a, b], [{ shape: a.shape }])[0];
}

/** Gradients of where(cond, a, b): dy flows to the branch that was chosen, zero to the other. */
export function whereBackward(cond: Tensor, dy: Tensor): BinaryGrads {
  sameShape('where backward', cond, dy, 'cond', 'dy');
  const [da, db] = launch(whereBackwardSpec(dy.size, condType('where backward', cond)), [cond, dy], [{ shape: dy.shape }, { shape: dy.shape }]);
  return { da, db };
}
