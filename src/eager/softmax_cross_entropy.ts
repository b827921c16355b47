import { ShapeError } from '../gpu/errors.js';
import { checkCrossEntropyShapes, softmaxCrossEntropyProgram } from '../kernels/softmax_cross_entropy.js';
import { defaultRowVariant, type SoftmaxVariant } from '../kernels/softmax.js';
import { launch, type Tensor } from './tensor.js';

export interface SoftmaxCrossEntropyResult {
  /** Mean loss over the batch, [1]. */
  loss: Tensor;
  /** d loss / d logits = (softmax(logits) - onehot(labels)) / B, [B, C]. */
  dLogits: Tensor;
  /** Rows whose first argmax equals the label, as an f32 count [1]; only when asked for. */
  correct?: Tensor;
}

/**
 * Mean softmax cross-entropy of logits [B, C] against u32 labels [B], with its gradient computed in
 * the same pass. A label >= C marks a row to ignore (zero loss and gradient; the mean still divides by B).
 */
export function softmaxCrossEntropy(
  logits: Tensor,
  labels: Tensor,
  options: { countCorrect?: boolean; variant?: SoftmaxVariant } = {},
): SoftmaxCrossEntropyResult {
  const [batch, classes] = checkCrossEntropyShapes(logits.shape, labels.shape);
  if (labels.dtype !== 'u32') {
    throw new ShapeError(`softmaxCrossEntropy: labels must be u32 class indices, got ${labels.dtype}; upload them with dtype 'u32'`);
  }
  const count = options.countCorrect ?? false;
  const outputs = [{ shape: [1] }, { shape: logits.shape }, ...(count ? [{ shape: [1] }] : [])];
  const variant = options.variant ?? defaultRowVariant(classes, logits.engine.info.software);
  const [loss, dLogits, correct] = launch(softmaxCrossEntropyProgram(batch, classes, count, variant), [logits, labels], outputs);
  return count ? { loss, dLogits, correct } : { loss, dLogits };
}
