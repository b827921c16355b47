import { ShapeError } from '../../gpu/errors.js';
import {
  conv2dBackwardDataProgram,
  conv2dBackwardDataTuning,
  conv2dBackwardFilterProgram,
  conv2dBackwardFilterTuning,
  conv2dOutputShape,
  conv2dParams,
  conv2dProgram,
  conv2dTuning,
  type Conv2dParams,
  type ConvFilterConfig,
  type ConvGemmConfig,
} from '../../kernels/conv2d.js';
import { conv2dGroupedBackwardData, conv2dGroupedBackwardFilter, conv2dGroupedForward, groupedWeightShape } from '../../kernels/conv2d_grouped.js';
import { singleLaunch } from '../../kernels/kernel.js';
import type { ActivationSpec } from '../../../shaders/lib/activations.js';
import { describeShape, type TensorType } from '../ir.js';
import { program } from '../lower.js';
import { expectArity, materialise, type OpRule, type Pair2 } from './rule.js';

/** Attributes of conv2d, as torch.nn.functional.conv2d (NCHW, weight [Cout, Cin, KH, KW]). */
export interface ConvAttrs {
  stride: Pair2;
  padding: Pair2;
  dilation: Pair2;
}

/** Channel groups of conv2d: each output channel sees the input channels of its group only (depthwise: groups = channels). */
export interface Grouped {
  groups?: number;
}

/** The op kinds this file defines, with their attributes (see OpAttrs in ./kinds.ts). */
export interface Conv2dOps {
  /** x [N, Cin, H, W], w [Cout, Cin/groups, KH, KW] → y [N, Cout, OH, OW]; `groups` (default 1) as torch's. */
  conv2d: ConvAttrs & Grouped;
  /** Made only by fusion after autodiff: conv2d (+ bias[Cout]) then `activation`. Inputs: x, w, [bias]. */
  conv2d_fused: ConvAttrs & Grouped & { bias: boolean; activation: ActivationSpec };
  /** dy, w → dx of the conv2d whose input had `inputShape`. */
  conv2d_backward_data: ConvAttrs & Grouped & { inputShape: readonly number[] };
  /** x, dy → dW of shape `weightShape`. */
  conv2d_backward_filter: ConvAttrs & Grouped & { weightShape: readonly number[] };
}

const bytes = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1) * 4;

/** Runs a kernel family's shape check, putting the layer name in front of its message. */
export function inLayer<T>(where: string, check: () => T): T {
  try {
    return check();
  } catch (e) {
    if (e instanceof ShapeError && !e.message.startsWith(where)) throw new ShapeError(`${where.split(': ')[0]}: ${e.message}`);
    throw e;
  }
}

/**
 * Kernel parameters of a conv2d node. With groups > 1 they describe the ungrouped conv of the same
 * input and output shapes (weight [Cout, Cin, KH, KW]); the grouped kernels take `groups` beside.
 */
function paramsOf(input: readonly number[], weight: readonly number[], a: ConvAttrs & Grouped, epilogue: { bias?: boolean; activation?: ActivationSpec } = {}): Conv2dParams {
  const w = (a.groups ?? 1) === 1 ? weight : groupedWeightShape('conv2d', input, weight, a.groups!);
  return conv2dParams(input, w, { stride: a.stride, padding: a.padding, dilation: a.dilation, ...epilogue });
}

const isGrouped = (a: Grouped) => (a.groups ?? 1) !== 1;

export const conv2dRule: OpRule<'conv2d'> = {
  infer([x, w], attrs, where) {
    expectArity(where, [x, w], 2, 'input, weight');
    const p = inLayer(where, () => paramsOf(x.shape, w.shape, attrs));
    return [{ shape: conv2dOutputShape(p), dtype: 'f32' }];
  },
  // y = x ⋆ w: dx is the transposed convolution of dy with w; dw correlates x with dy.
  grad(g, node, [up], needs) {
    if (up === null) return [null, null];
    const [x, w] = node.inputs;
    const dy = materialise(g, up, node.outputs[0]);
    const { stride, padding, dilation, groups } = node.attrs;
    const conv = { stride, padding, dilation, groups };
    return [
      needs[0] ? g.apply('conv2d_backward_data', [dy, w], { ...conv, inputShape: x.shape })[0] : null,
      needs[1] ? g.apply('conv2d_backward_filter', [x, dy], { ...conv, weightShape: w.shape })[0] : null,
    ];
  },
  async lower({ inputs: [x, w], outputs: [y], attrs }, ctx) {
    const p = paramsOf(x.shape, w.shape, attrs);
    if (isGrouped(attrs)) return program(singleLaunch(conv2dGroupedForward(p, attrs.groups!)));
    const t = conv2dTuning(p);
    const id = await ctx.tune(t.shapeClass, t.candidates, [bytes(x.shape), bytes(w.shape), bytes(y.shape)]);
    return program(conv2dProgram(p, id as ConvGemmConfig));
  },
};

/** The fused conv keeps conv2d's meaning followed by bias and activation (its unfused composition). */
export const conv2dFusedRule: OpRule<'conv2d_fused'> = {
  infer(inputs, attrs, where) {
    const [y] = conv2dRule.infer(inputs.slice(0, 2), attrs, where);
    if (attrs.bias && (inputs.length !== 3 || inputs[2].shape.join() !== String(y.shape[1]))) {
      throw new ShapeError(`${where}: bias must be [${y.shape[1]}]`);
    }
    return [y];
  },
  grad: 'nondiff',
  async lower({ inputs: [x, w], outputs: [y], attrs }, ctx) {
    const p = paramsOf(x.shape, w.shape, attrs, { bias: attrs.bias, activation: attrs.activation });
    if (isGrouped(attrs)) return program(singleLaunch(conv2dGroupedForward(p, attrs.groups!)));
    const t = conv2dTuning({ ...p, bias: false, activation: { kind: 'none' } });
    const id = await ctx.tune(t.shapeClass, t.candidates, [bytes(x.shape), bytes(w.shape), bytes(y.shape)]);
    return program(conv2dProgram(p, id as ConvGemmConfig));
  },
};

export const conv2dBackwardDataRule: OpRule<'conv2d_backward_data'> = {
  infer([dy, w], attrs, where) {
    expectArity(where, [dy, w], 2, 'dy, weight');
    const p = inLayer(where, () => paramsOf(attrs.inputShape, w.shape, attrs));
    const expected = conv2dOutputShape(p);
    if (expected.join() !== dy.shape.join()) {
      throw new ShapeError(`${where}: gradient ${describeShape(dy.shape)} does not match the conv output ${describeShape(expected)}`);
    }
    return [{ shape: attrs.inputShape, dtype: 'f32' }];
  },
  grad: 'nondiff',
  async lower({ inputs: [dy, w], attrs }, ctx) {
    const p = paramsOf(attrs.inputShape, w.shape, attrs);
    if (isGrouped(attrs)) return program(singleLaunch(conv2dGroupedBackwardData(p, attrs.groups!)));
    const t = conv2dBackwardDataTuning(p);
    const id = await ctx.tune(t.shapeClass, t.candidates, [bytes(dy.shape), bytes(w.shape), bytes(attrs.inputShape)]);
    return program(conv2dBackwardDataProgram(p, id as ConvGemmConfig));
  },
};

export const conv2dBackwardFilterRule: OpRule<'conv2d_backward_filter'> = {
  infer([x, dy], attrs, where): TensorType[] {
    expectArity(where, [x, dy], 2, 'input, dy');
    const p = inLayer(where, () => paramsOf(x.shape, attrs.weightShape, attrs));
    const expected = conv2dOutputShape(p);
    if (expected.join() !== dy.shape.join()) {
      throw new ShapeError(`${where}: gradient ${describeShape(dy.shape)} does not match the conv output ${describeShape(expected)}`);
    }
    return [{ shape: attrs.weightShape, dtype: 'f32' }];
  },
  grad: 'nondiff',
  async lower({ inputs: [x, dy], attrs }, ctx) {
    const p = paramsOf(x.shape, attrs.weightShape, attrs);
    if (isGrouped(attrs)) return program(singleLaunch(conv2dGroupedBackwardFilter(p, attrs.groups!)));
    const t = conv2dBackwardFilterTuning(p);
    const id = await ctx.tune(t.shapeClass, t.candidates, [bytes(dy.shape), bytes(x.shape), ...t.tuneBytes]);
    return program(conv2dBackwardFilterProgram(p, id as ConvFilterConfig));
  },
};
