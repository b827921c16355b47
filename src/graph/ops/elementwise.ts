import { ShapeError } from '../../gpu/errors.js';
import { binaryForward, broadcastLayout, scaleSpec, type BinaryOp } from '../../kernels/elementwise.js';
import { singleLaunch } from '../../kernels/kernel.js';
import { describeShape, type Graph, type Value } from '../ir.js';
import { program, type Lowering } from '../lower.js';
import type { ScheduledOp } from '../passes/schedule.js';
import { expectArity, expectF32, expectSameShape, materialise, normaliseAxis, type Grad, type OpRule } from './rule.js';

/** The op kinds this file defines, with their attributes (see OpAttrs in ./kinds.ts). */
export interface ElementwiseOps {
  /** x [..., C, *spatial] + b [C], the channel at `axis` (1 for NCHW, -1 for features). */
  bias_add: { axis: number };
  add: Record<string, never>;
  sub: Record<string, never>;
  mul: Record<string, never>;
  /** x·scale + shift, scalars. */
  scale: { scale: number; shift: number };
  /** x [..] times s [1]: scales a gradient by an upstream scalar. */
  mul_scalar: Record<string, never>;
}

function binary(name: string): OpRule<'add'>['infer'] {
  return ([a, b], _attrs, where) => {
    expectArity(where, [a, b], 2, 'a, b');
    expectF32(where, 'a', a);
    expectF32(where, 'b', b);
    expectSameShape(where, a, b, `${name} needs equal shapes (use bias_add for a per-channel operand)`);
    return [{ shape: a.shape, dtype: 'f32' }];
  };
}

/** a (op) b, b broadcast over a as the kernels' layout rules say (same shape, [1], or a channel block). */
function lowerBinary(op: BinaryOp, axis?: number) {
  return ({ inputs: [a, b], layer, op: kind }: ScheduledOp): Lowering =>
    program(singleLaunch(binaryForward(op, broadcastLayout(layer ? `${layer}: ${kind}` : kind, a.shape, b.shape, axis))));
}

const asValue = (g: Graph, grad: Grad, like: Value): Value | null => (grad === null ? null : materialise(g, grad, like));

// d(a + b) = da + db
export const addRule: OpRule<'add'> = {
  infer: binary('add'),
  grad(g, node, [up]) {
    const d = asValue(g, up, node.outputs[0]);
    return [d, d];
  },
  lower: lowerBinary('add'),
};

// d(a − b): da = g, db = −g
export const subRule: OpRule<'sub'> = {
  infer: binary('sub'),
  grad(g, node, [up], needs) {
    const d = asValue(g, up, node.outputs[0]);
    if (!d) return [null, null];
    return [d, needs[1] ? g.apply('scale', [d], { scale: -1, shift: 0 })[0] : null];
  },
  lower: lowerBinary('sub'),
};

// d(a ⊙ b): da = g ⊙ b, db = g ⊙ a
export const mulRule: OpRule<'mul'> = {
  infer: binary('mul'),
  grad(g, node, [up], needs) {
    const d = asValue(g, up, node.outputs[0]);
    if (!d) return [null, null];
    const [a, b] = node.inputs;
    return [needs[0] ? g.apply('mul', [d, b], {})[0] : null, needs[1] ? g.apply('mul', [d, a], {})[0] : null];
  },
  lower: lowerBinary('mul'),
};

// d(x·s + t)/dx = s
export const scaleRule: OpRule<'scale'> = {
  infer([x], _attrs, where) {
    expectF32(where, 'x', x);
    return [{ shape: x.shape, dtype: 'f32' }];
  },
  grad(g, node, [up]) {
    const d = asValue(g, up, node.outputs[0]);
    if (!d || node.attrs.scale === 0) return [null];
    return [node.attrs.scale === 1 ? d : g.apply('scale', [d], { scale: node.attrs.scale, shift: 0 })[0]];
  },
  lower: ({ inputs: [x], attrs }) => program(singleLaunch(scaleSpec(x.size, attrs.scale, attrs.shift))),
};

// y = x·s with s a [1] tensor: dx = g·s, ds = Σ g ⊙ x
export const mulScalarRule: OpRule<'mul_scalar'> = {
  infer([x, s], _attrs, where) {
    expectArity(where, [x, s], 2, 'x, s');
    if (s.shape.length !== 1 || s.shape[0] !== 1) throw new ShapeError(`${where}: the scalar operand must have shape [1], got ${describeShape(s.shape)}`);
    return [{ shape: x.shape, dtype: 'f32' }];
  },
  grad(g, node, [up], needs) {
    const d = asValue(g, up, node.outputs[0]);
    if (!d) return [null, null];
    const [x, s] = node.inputs;
    const dx = needs[0] ? g.apply('mul_scalar', [d, s], {})[0] : null;
    let ds: Value | null = null;
    if (needs[1]) {
      const flat = g.apply('reshape', [g.apply('mul', [d, x], {})[0]], { shape: [x.size] })[0];
      ds = g.apply('sum', [flat], { axis: 0 })[0];
    }
    return [dx, ds];
  },
  lower: lowerBinary('mul'),
};

/** Splits `shape` around `axis` into [before, channels, after] element counts. */
export function splitAround(shape: readonly number[], axis: number): [number, number, number] {
  const before = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const after = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  return [before, shape[axis], after];
}

// y = x + b broadcast along `axis`: dx = g, db = Σ of g over every other axis
export const biasAddRule: OpRule<'bias_add'> = {
  infer([x, b], { axis }, where) {
    expectArity(where, [x, b], 2, 'x, bias');
    const a = normaliseAxis(where, axis, x.shape.length);
    if (b.shape.length !== 1 || b.shape[0] !== x.shape[a]) {
      throw new ShapeError(`${where}: bias ${describeShape(b.shape)} does not match input ${describeShape(x.shape)} at axis ${a}; expected [${x.shape[a]}]`);
    }
    return [{ shape: x.shape, dtype: 'f32' }];
  },
  grad(g, node, [up], needs) {
    const d = asValue(g, up, node.outputs[0]);
    if (!d) return [null, null];
    if (!needs[1]) return [d, null];
    const a = normaliseAxis('bias_add', node.attrs.axis, d.shape.length);
    const [before, channels, after] = splitAround(d.shape, a);
    // Reduce only the axes that are longer than 1: [B, N] needs one column sum, not two launches.
    let r = g.apply('reshape', [d], { shape: [before, channels, after] })[0];
    if (after > 1) r = g.apply('sum', [r], { axis: 2 })[0];
    else r = g.apply('reshape', [r], { shape: [before, channels] })[0];
    r = before > 1 ? g.apply('sum', [r], { axis: 0 })[0] : g.apply('reshape', [r], { shape: [channels] })[0];
    return [d, r];
  },
  lower: (step) => lowerBinary('add', step.attrs.axis)(step),
};
