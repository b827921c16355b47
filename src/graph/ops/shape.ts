import { ShapeError } from '../../gpu/errors.js';
import { describeShape } from '../ir.js';
import { singleLaunch } from '../../kernels/kernel.js';
import { broadcastAxisSpec, reduceAxisProgram } from '../../kernels/reduce.js';
import { program, VIEW } from '../lower.js';
import { materialise, normaliseAxis, type OpRule } from './rule.js';

/** The op kinds this file defines, with their attributes (see OpAttrs in ./kinds.ts). */
export interface ShapeOps {
  /** Sum over one axis, which is removed. */
  sum: { axis: number };
  /** Inserts a new axis of length `size` at `axis`, repeating the data along it (the adjoint of sum). */
  expand: { axis: number; size: number };
  /** Same data, another shape of equal size; costs no kernel. */
  reshape: { shape: readonly number[] };
  /** Identity whose gradient is zero: `detach`. */
  stop_gradient: Record<string, never>;
}

export const reshapeRule: OpRule<'reshape'> = {
  infer([x], { shape }, where) {
    const size = shape.reduce((a, b) => a * b, 1);
    const have = x.shape.reduce((a, b) => a * b, 1);
    if (!shape.every((d) => Number.isInteger(d) && d >= 1) || size !== have) {
      throw new ShapeError(`${where}: cannot reshape ${describeShape(x.shape)} (${have} elements) to ${describeShape(shape)} (${size})`);
    }
    return [{ shape: [...shape], dtype: x.dtype }];
  },
  grad(g, node, [up]) {
    if (up === null) return [null];
    return [g.apply('reshape', [materialise(g, up, node.outputs[0])], { shape: node.inputs[0].shape })[0]];
  },
  lower: () => VIEW,
};

export const stopGradientRule: OpRule<'stop_gradient'> = {
  infer: ([x]) => [{ shape: x.shape, dtype: x.dtype }],
  grad: () => [null],
  lower: () => VIEW,
};

export const sumRule: OpRule<'sum'> = {
  infer([x], { axis }, where) {
    const a = normaliseAxis(where, axis, x.shape.length);
    const shape = x.shape.filter((_, i) => i !== a);
    return [{ shape: shape.length ? shape : [1], dtype: 'f32' }];
  },
  // d(Σ_axis x) / dx repeats g along the summed axis.
  grad(g, node, [up]) {
    if (up === null) return [null];
    const x = node.inputs[0];
    const d = materialise(g, up, node.outputs[0]);
    // A sum down to one value ([n], [1, n], …) leaves [1], which expand reads as a scalar: spread it
    // over all x.size values (only the summed axis is longer than 1) and give them x's shape.
    if (node.outputs[0].size === 1) {
      const one = d.shape.length === 1 ? d : g.apply('reshape', [d], { shape: [1] })[0];
      const spread = g.apply('expand', [one], { axis: 0, size: x.size })[0];
      return [x.shape.length === 1 ? spread : g.apply('reshape', [spread], { shape: x.shape })[0]];
    }
    const a = normaliseAxis('sum', node.attrs.axis, x.shape.length);
    return [g.apply('expand', [d], { axis: a, size: x.shape[a] })[0]];
  },
  lower: ({ inputs: [x], attrs }) => program(reduceAxisProgram('sum', x.shape, attrs.axis).program),
};

export const expandRule: OpRule<'expand'> = {
  infer([x], { axis, size }, where) {
    if (!Number.isInteger(size) || size < 1) throw new ShapeError(`${where}: size ${size} must be a positive integer`);
    const scalar = x.shape.length === 1 && x.shape[0] === 1;
    const base = scalar ? [] : [...x.shape];
    const a = normaliseAxis(where, axis, base.length + 1);
    base.splice(a, 0, size);
    return [{ shape: base, dtype: x.dtype }];
  },
  grad(g, node, [up]) {
    if (up === null) return [null];
    const d = materialise(g, up, node.outputs[0]);
    const summed = g.apply('sum', [d], { axis: node.attrs.axis })[0];
    return [summed.shape.join() === node.inputs[0].shape.join() ? summed : g.apply('reshape', [summed], { shape: node.inputs[0].shape })[0]];
  },
  lower({ outputs: [y], attrs }) {
    const a = normaliseAxis('expand', attrs.axis, y.shape.length);
    const outer = y.shape.slice(0, a).reduce((p, q) => p * q, 1);
    const inner = y.shape.slice(a + 1).reduce((p, q) => p * q, 1);
    return program(singleLaunch(broadcastAxisSpec(outer, attrs.size, inner)));
  },
};
