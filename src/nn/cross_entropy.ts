import { ShapeError } from '../gpu/errors.js';
import { describeShape, type Graph, type Value } from '../graph/ir.js';

/** What `crossEntropy` adds to a graph: the loss and the counts a training loop reads. */
export interface CrossEntropyOutputs {
  /** Mean over the kept positions, [1]. */
  loss: Value;
  /** Kept positions whose first argmax is the label, [1] (f32). */
  correct: Value;
  /** Positions whose label is >= the class count and not `ignoreIndex`, [1] (f32): raise when > 0. */
  invalid: Value;
}

/**
 * Softmax cross-entropy of logits [.., V] against u32 labels [..], averaged over every position, as
 * PyTorch's F.cross_entropy(logits.view(-1, V), labels.view(-1)): a character model's [B, T, V]
 * logits and [B, T] targets become B·T rows of the fused softmax_cross_entropy kernel (the reshapes
 * are free views). `ignoreIndex` leaves positions out of the loss and the mean, as PyTorch's.
 */
export function crossEntropy(g: Graph, logits: Value, labels: Value, options: { ignoreIndex?: number } = {}): CrossEntropyOutputs {
  const lead = logits.shape.slice(0, -1);
  if (logits.shape.length < 2 || labels.dtype !== 'u32' || labels.shape.length !== lead.length || labels.shape.some((d, i) => d !== lead[i])) {
    throw new ShapeError(
      `crossEntropy: logits ${describeShape(logits.shape)} and labels ${describeShape(labels.shape)} (${labels.dtype}): ` +
        `expected logits [..., classes] with at least a batch axis and u32 labels of their leading shape ${describeShape(lead)}`,
    );
  }
  const rows = lead.reduce((a, b) => a * b, 1);
  const flat = logits.shape.length === 2 ? logits : g.apply('reshape', [logits], { shape: [rows, logits.shape[logits.shape.length - 1]] })[0];
  const flatLabels = labels.shape.length === 1 ? labels : g.apply('reshape', [labels], { shape: [rows] })[0];
  const [loss, , correct, invalid] = g.apply('softmax_cross_entropy', [flat, flatLabels], options.ignoreIndex === undefined ? {} : { ignoreIndex: options.ignoreIndex });
  return { loss, correct, invalid };
}
