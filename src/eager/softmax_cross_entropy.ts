import { inferOne } from '../graph/eager_plan.js';
import { softmaxCrossEntropyProgram } from '../kernels/softmax_cross_entropy.js';
import type { SoftmaxVariant } from '../kernels/softmax.js';
import { launch, runOp, type Tensor } from './tensor.js';

/** What the eager `softmaxCrossEntropy` returns: the loss, its gradient, and the counts asked for. */
export interface SoftmaxCrossEntropyResult {
  /** Mean loss over the kept rows, [1]; NaN when every row is ignored or invalid (as PyTorch). */
  loss: Tensor;
  /** d loss / d logits = (softmax(logits) - onehot(labels)) / kept on kept rows, 0 on the others, [B, C]. */
  dLogits: Tensor;
  /** Kept rows whose first argmax equals the label, as an f32 count [1]; only when asked for. */
  correct?: Tensor;
  /** Rows whose label is >= C and not `ignoreIndex`, as an f32 count [1]; only when asked for. */
  invalid?: Tensor;
}

/** Options of the eager `softmaxCrossEntropy`. */
export interface SoftmaxCrossEntropyOptions {
  countCorrect?: boolean;
  /** Also return `invalid`, the number of rows with a label >= C other than `ignoreIndex`. */
  countInvalid?: boolean;
  /**
   * Rows with this label get zero loss and gradient and are left out of the mean (PyTorch's
   * ignore_index with reduction 'mean'). Default: none. An integer in [0, 2³²−1].
   */
  ignoreIndex?: number;
  variant?: SoftmaxVariant;
}

/**
 * Mean softmax cross-entropy of logits [B, C] against u32 labels [B], with its gradient computed in
 * the same pass. The mean is over the kept rows: those labelled `ignoreIndex`, and those with any
 * other label >= C (invalid; counted by `invalid`), add nothing and are not counted.
 */
export function softmaxCrossEntropy(logits: Tensor, labels: Tensor, options: SoftmaxCrossEntropyOptions = {}): SoftmaxCrossEntropyResult {
  const countCorrect = options.countCorrect ?? false;
  const countInvalid = options.countInvalid ?? false;
  const attrs = options.ignoreIndex === undefined ? {} : { ignoreIndex: options.ignoreIndex };
  let outputs: Tensor[];
  if (!options.variant) {
    // The graph op always writes both counts; the ones not asked for go straight back to the pool.
    outputs = runOp('softmax_cross_entropy', [logits, labels], attrs);
  } else {
    inferOne('softmax_cross_entropy', [logits, labels], attrs);
    const [batch, classes] = logits.shape;
    const program = softmaxCrossEntropyProgram(batch, classes, { countCorrect: true, countInvalid: true, ignoreIndex: options.ignoreIndex, variant: options.variant });
    outputs = launch(program, [logits, labels], [{ shape: [1] }, { shape: logits.shape }, { shape: [1] }, { shape: [1] }]);
  }
  const [loss, dLogits, correct, invalid] = outputs;
  const result: SoftmaxCrossEntropyResult = { loss, dLogits };
  if (countCorrect) result.correct = correct;
  else correct.dispose();
  if (countInvalid) result.invalid = invalid;
  else invalid.dispose();
  return result;
}
