import { ShapeError } from '../../gpu/errors.js';
import { defaultRowVariant } from '../../kernels/softmax.js';
import { checkIgnoreIndex, softmaxCrossEntropyProgram } from '../../kernels/softmax_cross_entropy.js';
import { describeShape } from '../ir.js';
import { program } from '../lower.js';
import { expectArity, expectF32, scaleBy, type OpRule } from './rule.js';

/** The op kinds this file defines, with their attributes (see OpAttrs in ./kinds.ts). */
export interface SoftmaxCrossEntropyOps {
  /**
   * logits [B,C], labels [B] u32 → mean loss [1], dLogits [B,C], correct [1], invalid [1] (see the
   * rule). Rows labelled `ignoreIndex` are left out of the loss, the gradient and the mean, as
   * PyTorch's ignore_index with reduction 'mean' (no row kept: the loss is NaN). Default: none.
   */
  softmax_cross_entropy: { ignoreIndex?: number };
}

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
