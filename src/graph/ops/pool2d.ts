import { singleLaunch } from '../../kernels/kernel.js';
import { avgPool2dBackward, avgPool2dForward, maxPool2dBackward, maxPool2dForward, pool2dGeometry } from '../../kernels/pool2d.js';
import { ShapeError } from '../../gpu/errors.js';
import { describeShape, type TensorType } from '../ir.js';
import { program } from '../lower.js';
import { inLayer } from './conv2d.js';
import type { OpAttrs } from './kinds.js';
import { expectArity, expectF32, materialise, type OpRule, type Pair2 } from './rule.js';

export interface PoolAttrs {
  kernel: Pair2;
  stride: Pair2;
  padding: Pair2;
}

/** The op kinds this file defines, with their attributes (see OpAttrs in ./kinds.ts). */
export interface Pool2dOps {
  /** x → y and the argmax (u32, index within each plane) that backward scatters to. */
  max_pool2d: PoolAttrs & { dilation: Pair2 };
  /** dy, argmax → dx of shape `inputShape`. */
  max_pool2d_backward: PoolAttrs & { dilation: Pair2; inputShape: readonly number[] };
  avg_pool2d: PoolAttrs & { countIncludePad: boolean };
  avg_pool2d_backward: PoolAttrs & { countIncludePad: boolean; inputShape: readonly number[] };
}

type MaxAttrs = OpAttrs['max_pool2d'];
type AvgAttrs = OpAttrs['avg_pool2d'];

const geometry = (op: string, shape: readonly number[], a: MaxAttrs | AvgAttrs) =>
  pool2dGeometry(op, shape, {
    kernel: a.kernel,
    stride: a.stride,
    padding: a.padding,
    dilation: 'dilation' in a ? a.dilation : undefined,
    countIncludePad: 'countIncludePad' in a ? a.countIncludePad : undefined,
  });

const outShape = (g: ReturnType<typeof geometry>) => [g.n, g.c, g.oh, g.ow];

/**
 * A backward input (dy, or max pooling's argmax) must have the pooled output's shape for
 * `inputShape`: the kernels index it by that geometry and would read past it or leave part unread.
 */
function expectPooledShape(where: string, what: string, t: TensorType, pooled: readonly number[], inputShape: readonly number[]): void {
  if (t.shape.join() !== pooled.join()) {
    throw new ShapeError(
      `${where}: ${what} ${describeShape(t.shape)} does not match the pooled output ${describeShape(pooled)} of input ${describeShape(inputShape)}; ` +
        `pass the ${what === 'dy' ? 'gradient of' : 'argmax saved by'} the forward pooling of that input with the same window, stride, padding and dilation`,
    );
  }
}

export const maxPool2dRule: OpRule<'max_pool2d'> = {
  infer([x], attrs, where) {
    const g = inLayer(where, () => geometry('max_pool2d', x.shape, attrs));
    return [
      { shape: outShape(g), dtype: 'f32' },
      { shape: outShape(g), dtype: 'u32' },
    ];
  },
  // The gradient goes to the element that won each window (its index saved as argmax).
  grad(g, node, [up]) {
    if (up === null) return [null];
    const dy = materialise(g, up, node.outputs[0]);
    return [g.apply('max_pool2d_backward', [dy, node.outputs[1]], { ...node.attrs, inputShape: node.inputs[0].shape })[0]];
  },
  lower: ({ inputs: [x], attrs }) => program(singleLaunch(maxPool2dForward(geometry('max_pool2d', x.shape, attrs)))),
};

export const maxPool2dBackwardRule: OpRule<'max_pool2d_backward'> = {
  infer([dy, argmax], attrs, where) {
    expectArity(where, [dy, argmax], 2, 'dy, argmax');
    const pooled = outShape(inLayer(where, () => geometry('max_pool2d', attrs.inputShape, attrs)));
    expectF32(where, 'dy', dy);
    expectPooledShape(where, 'dy', dy, pooled, attrs.inputShape);
    if (argmax.dtype !== 'u32') throw new ShapeError(`${where}: argmax must be u32 (the max_pool2d output 1), got ${argmax.dtype}`);
    expectPooledShape(where, 'argmax', argmax, pooled, attrs.inputShape);
    return [{ shape: attrs.inputShape, dtype: 'f32' }];
  },
  grad: 'nondiff',
  lower: ({ attrs }) => program(singleLaunch(maxPool2dBackward(geometry('max_pool2d', attrs.inputShape, attrs)))),
};

export const avgPool2dRule: OpRule<'avg_pool2d'> = {
  infer([x], attrs, where) {
    return [{ shape: outShape(inLayer(where, () => geometry('avg_pool2d', x.shape, attrs))), dtype: 'f32' }];
  },
  grad(g, node, [up]) {
    if (up === null) return [null];
    const dy = materialise(g, up, node.outputs[0]);
    return [g.apply('avg_pool2d_backward', [dy], { ...node.attrs, inputShape: node.inputs[0].shape })[0]];
  },
  lower: ({ inputs: [x], attrs }) => program(singleLaunch(avgPool2dForward(geometry('avg_pool2d', x.shape, attrs)))),
};

export const avgPool2dBackwardRule: OpRule<'avg_pool2d_backward'> = {
  infer(inputs, attrs, where) {
    expectArity(where, inputs, 1, 'dy');
    const pooled = outShape(inLayer(where, () => geometry('avg_pool2d', attrs.inputShape, attrs)));
    expectF32(where, 'dy', inputs[0]);
    expectPooledShape(where, 'dy', inputs[0], pooled, attrs.inputShape);
    return [{ shape: attrs.inputShape, dtype: 'f32' }];
  },
  grad: 'nondiff',
  lower: ({ attrs }) => program(singleLaunch(avgPool2dBackward(geometry('avg_pool2d', attrs.inputShape, attrs)))),
};
