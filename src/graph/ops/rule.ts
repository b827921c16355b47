import { ShapeError } from '../../gpu/errors.js';
import type { Graph, Node, TensorType, Value } from '../ir.js';
import type { LowerContext, Lowering } from '../lower.js';
import type { ScheduledOp } from '../passes/schedule.js';
import { describeShape } from '../ir.js';
import type { OpAttrs, OpKind } from './kinds.js';

/** Per-axis sizes (h, w). */
export type Pair2 = readonly [number, number];

/**
 * The upstream gradient of each output of a node: a Value, `null` when no gradient flows into that
 * output, or ONE for the loss itself (so rules can skip multiplying by 1).
 */
export const ONE = Symbol('one');
export type Grad = Value | null | typeof ONE;

export interface OpRule<K extends OpKind> {
  /** Output types from input types; throws ShapeError naming `where` (layer: op), shapes and the fix. */
  infer(inputs: readonly TensorType[], attrs: OpAttrs[K], where: string): TensorType[];
  /**
   * Gradient of the loss w.r.t. each input, built as new nodes on `g`; only inputs with `needs[i]`
   * must be given (others may be null, as must labels and indices). 'nondiff' marks ops that autodiff must never pass through.
   */
  grad: ((g: Graph, node: Node<K>, outGrads: readonly Grad[], needs: readonly boolean[]) => (Value | null)[]) | 'nondiff';
  /** The kernels that run the op, chosen from its (already checked) shapes and attributes. */
  lower(step: ScheduledOp<K>, ctx: LowerContext): Lowering | Promise<Lowering>;
}

export type RuleTable = { [K in OpKind]: OpRule<K> };

export function expectArity(where: string, inputs: readonly TensorType[], n: number, names: string): void {
  if (inputs.length !== n) throw new ShapeError(`${where}: expects ${n} inputs (${names}), got ${inputs.length}`);
}

export function expectF32(where: string, what: string, t: TensorType): void {
  if (t.dtype !== 'f32') throw new ShapeError(`${where}: ${what} must be f32, got ${t.dtype}`);
}

export function expectSameShape(where: string, a: TensorType, b: TensorType, fix = 'give both operands the same shape'): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new ShapeError(`${where}: shapes ${describeShape(a.shape)} and ${describeShape(b.shape)} differ; ${fix}`);
  }
}

export function normaliseAxis(where: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new ShapeError(`${where}: axis ${axis} is out of range for rank ${rank}`);
  return a;
}

/** Multiplies a gradient by the upstream scalar unless that is ONE. */
export function scaleBy(g: Graph, x: Value, upstream: Grad): Value | null {
  if (upstream === null) return null;
  if (upstream === ONE) return x;
  return g.apply('mul_scalar', [x, upstream], {})[0];
}

/** A gradient as a Value: ONE becomes a tensor of ones shaped like `like` (x·0 + 1). */
export function materialise(g: Graph, grad: Value | typeof ONE, like: Value): Value {
  return grad === ONE ? g.apply('scale', [like], { scale: 0, shift: 1 })[0] : grad;
}
