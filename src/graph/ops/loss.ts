import { ShapeError } from '../../gpu/errors.js';
import { bceWithLogitsBackward, bceWithLogitsProgram } from '../../kernels/bce_with_logits.js';
import { mseBackward, mseProgram } from '../../kernels/mse.js';
import { defaultRowVariant } from '../../kernels/softmax.js';
import { checkIgnoreIndex, softmaxCrossEntropyProgram } from '../../kernels/softmax_cross_entropy.js';
import { describeShape } from '../ir.js';
import { singleLaunch } from '../../kernels/kernel.js';
import { program } from '../lower.js';
import { expectArity, expectF32, expectSameShape, scaleBy, type OpRule } from './rule.js';

export const softmaxCrossEntropyRule: OpRule<'softmax_cross_entropy'> = {
  infer([logits, labels], attrs, where) {
    expectArity(where, [logits, labels], 2, 'logits, labels');
    expectF32(where, 'logits', logits);
    if (logits.shape.length !== 2) throw new ShapeError(`${where}: logits ${describeShape(logits.shape)} must be [batch, classes]`);
    if (labels.dtype !== 'u32' || labels.shape.length !== 1 || labels.shape[0] !== logits.shape[0]) {
      throw new ShapeError(
        `${where}: labels ${describeShape(labels.shape)} (${labels.dtype}) must be u32 class indices of shape [${logits.shape[0]}] to match logits ${describeShape(logits.shape)}`,
      );
    }
    checkIgnoreIndex(where, attrs.ignoreIndex);
    // Outputs, in this order:
    //  0 loss [1]: the mean over the kept rows (label < classes and not ignoreIndex); NaN if none is kept;
    //  1 dLogits [B, C]: (softmax − onehot) / kept on kept rows, zero on the others;
    //  2 correct [1]: kept rows whose first argmax is the label, as f32 (for accuracy);
    //  3 invalid [1]: rows whose label is >= classes and not ignoreIndex, as f32. They add nothing to
    //    the loss or the gradient; a training loop sums this with its metrics and raises when it is > 0.
    return [
      { shape: [1], dtype: 'f32' },
      { shape: logits.shape, dtype: 'f32' },
      { shape: [1], dtype: 'f32' },
      { shape: [1], dtype: 'f32' },
    ];
  },
  // The kernel already wrote dL/dlogits = (softmax − onehot)/kept as its second output.
  grad(g, node, [up, upDLogits, upCorrect, upInvalid]) {
    if (upDLogits !== null || upCorrect !== null || upInvalid !== null) {
      throw new ShapeError('softmax_cross_entropy: only its loss output can be differentiated');
    }
    return [scaleBy(g, node.outputs[1], up), null];
  },
  lower: ({ inputs: [logits], attrs }, ctx) =>
    program(
      softmaxCrossEntropyProgram(logits.shape[0], logits.shape[1], {
        countCorrect: true,
        countInvalid: true,
        ignoreIndex: attrs.ignoreIndex,
        variant: defaultRowVariant(logits.shape[1], ctx.software),
      }),
    ),
};

export const mseRule: OpRule<'mse'> = {
  infer([pred, target], _attrs, where) {
    expectArity(where, [pred, target], 2, 'prediction, target');
    expectSameShape(where, pred, target, 'the target must have the shape of the prediction');
    return [{ shape: [1], dtype: 'f32' }];
  },
  // L = mean((p − t)²): dp = 2(p − t)/n, dt = −dp
  grad(g, node, [up], needs) {
    if (up === null) return [null, null];
    const dp = scaleBy(g, g.apply('mse_backward', [...node.inputs], {})[0], up)!;
    return [dp, needs[1] ? g.apply('scale', [dp], { scale: -1, shift: 0 })[0] : null];
  },
  lower: ({ inputs: [pred] }) => program(mseProgram(pred.size)),
};

export const mseBackwardRule: OpRule<'mse_backward'> = {
  infer([pred, target], _attrs, where) {
    expectSameShape(where, pred, target);
    return [{ shape: pred.shape, dtype: 'f32' }];
  },
  grad: 'nondiff',
  lower: ({ inputs: [pred] }) => program(singleLaunch(mseBackward(pred.size, false))),
};

export const bceWithLogitsRule: OpRule<'bce_with_logits'> = {
  infer([x, t], _attrs, where) {
    expectArity(where, [x, t], 2, 'logits, targets');
    expectSameShape(where, x, t, 'the targets must have the shape of the logits');
    return [{ shape: [1], dtype: 'f32' }];
  },
  // L = mean(max(x,0) − x·t + log(1 + e^−|x|)): dx = (σ(x) − t)/n
  grad(g, node, [up], needs) {
    if (up === null) return [null, null];
    if (needs[1]) throw new ShapeError('bce_with_logits: targets are not differentiable; detach them');
    return [scaleBy(g, g.apply('bce_with_logits_backward', [...node.inputs], {})[0], up), null];
  },
  lower: ({ inputs: [x] }) => program(bceWithLogitsProgram(x.size)),
};

export const bceWithLogitsBackwardRule: OpRule<'bce_with_logits_backward'> = {
  infer([x, t], _attrs, where) {
    expectSameShape(where, x, t);
    return [{ shape: x.shape, dtype: 'f32' }];
  },
  grad: 'nondiff',
  lower: ({ inputs: [x] }) => program(singleLaunch(bceWithLogitsBackward(x.size, false))),
};
