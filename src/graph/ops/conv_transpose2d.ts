import { ShapeError } from '../../gpu/errors.js';
import type { ConvFilterConfig, ConvGemmConfig } from '../../kernels/conv2d.js';
import {
  convTranspose2dBackwardDataProgram,
  convTranspose2dBackwardDataTuning,
  convTranspose2dBackwardFilterProgram,
  convTranspose2dBackwardFilterTuning,
  convTranspose2dOutputShape,
  convTranspose2dParams,
  convTranspose2dProgram,
  convTranspose2dTuning,
} from '../../kernels/conv_transpose2d.js';
import { describeShape } from '../ir.js';
import { program } from '../lower.js';
import { inLayer, type ConvAttrs } from './conv2d.js';
import { expectArity, materialise, type OpRule, type Pair2 } from './rule.js';

/** Attributes of conv_transpose2d (weight [Cin, Cout, KH, KW], as torch). */
export interface ConvTransposeAttrs extends ConvAttrs {
  outputPadding: Pair2;
}

/** The op kinds this file defines, with their attributes (see OpAttrs in ./kinds.ts). */
export interface ConvTranspose2dOps {
  /** x [N, Cin, H, W], w [Cin, Cout, KH, KW] → y [N, Cout, OH, OW] (the adjoint of conv2d). */
  conv_transpose2d: ConvTransposeAttrs;
  conv_transpose2d_backward_data: ConvTransposeAttrs & { inputShape: readonly number[] };
  conv_transpose2d_backward_filter: ConvTransposeAttrs & { weightShape: readonly number[] };
}

const bytes = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1) * 4;
const paramsOf = (input: readonly number[], weight: readonly number[], a: ConvTransposeAttrs) =>
  convTranspose2dParams(input, weight, { stride: a.stride, padding: a.padding, dilation: a.dilation, outputPadding: a.outputPadding });

function checkGrad(where: string, dy: readonly number[], expected: readonly number[]): void {
  if (expected.join() !== dy.join()) {
    throw new ShapeError(`${where}: gradient ${describeShape(dy)} does not match the transposed conv output ${describeShape(expected)}`);
  }
}

export const convTranspose2dRule: OpRule<'conv_transpose2d'> = {
  infer([x, w], attrs, where) {
    expectArity(where, [x, w], 2, 'input, weight');
    return [{ shape: convTranspose2dOutputShape(inLayer(where, () => paramsOf(x.shape, w.shape, attrs))), dtype: 'f32' }];
  },
  // The transposed conv is conv2d's input gradient, so its own dx is a conv2d of dy with w.
  grad(g, node, [up], needs) {
    if (up === null) return [null, null];
    const [x, w] = node.inputs;
    const dy = materialise(g, up, node.outputs[0]);
    const a = node.attrs;
    return [
      needs[0] ? g.apply('conv_transpose2d_backward_data', [dy, w], { ...a, inputShape: x.shape })[0] : null,
      needs[1] ? g.apply('conv_transpose2d_backward_filter', [x, dy], { ...a, weightShape: w.shape })[0] : null,
    ];
  },
  async lower({ inputs: [x, w], outputs: [y], attrs }, ctx) {
    const p = paramsOf(x.shape, w.shape, attrs);
    const t = convTranspose2dTuning(p);
    const id = await ctx.tune(t.shapeClass, t.candidates, [bytes(x.shape), bytes(w.shape), bytes(y.shape)]);
    return program(convTranspose2dProgram(p, id as ConvGemmConfig));
  },
};

export const convTranspose2dBackwardDataRule: OpRule<'conv_transpose2d_backward_data'> = {
  infer([dy, w], attrs, where) {
    expectArity(where, [dy, w], 2, 'dy, weight');
    checkGrad(where, dy.shape, convTranspose2dOutputShape(inLayer(where, () => paramsOf(attrs.inputShape, w.shape, attrs))));
    return [{ shape: attrs.inputShape, dtype: 'f32' }];
  },
  grad: 'nondiff',
  async lower({ inputs: [dy, w], attrs }, ctx) {
    const p = paramsOf(attrs.inputShape, w.shape, attrs);
    const t = convTranspose2dBackwardDataTuning(p);
    const id = await ctx.tune(t.shapeClass, t.candidates, [bytes(dy.shape), bytes(w.shape), bytes(attrs.inputShape)]);
    return program(convTranspose2dBackwardDataProgram(p, id as ConvGemmConfig));
  },
};

export const convTranspose2dBackwardFilterRule: OpRule<'conv_transpose2d_backward_filter'> = {
  infer([x, dy], attrs, where) {
    expectArity(where, [x, dy], 2, 'input, dy');
    checkGrad(where, dy.shape, convTranspose2dOutputShape(inLayer(where, () => paramsOf(x.shape, attrs.weightShape, attrs))));
    return [{ shape: attrs.weightShape, dtype: 'f32' }];
  },
  grad: 'nondiff',
  async lower({ inputs: [x, dy], attrs }, ctx) {
    const p = paramsOf(x.shape, attrs.weightShape, attrs);
    const t = convTranspose2dBackwardFilterTuning(p);
    const id = await ctx.tune(t.shapeClass, t.candidates, [bytes(dy.shape), bytes(x.shape), ...t.tuneBytes]);
    return program(convTranspose2dBackwardFilterProgram(p, id as ConvFilterConfig));
  },
};
