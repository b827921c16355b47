import type { RefOp } from './ref_op.js';
/**
 * Float64 embedding lookup, as torch.nn.functional.embedding: row `indices[i]` of a [V, dim] table
 * for each index. An index >= V has no row: it gives zeros here and is counted in `invalid`
 * (PyTorch raises instead; the GPU cannot, so it reports the count).
 */
export function embeddingRef(indices: ArrayLike<number>, weight: ArrayLike<number>, dim: number) {
  const vocab = weight.length / dim;
  const y = new Float64Array(indices.length * dim);
  let invalid = 0;
  for (let i = 0; i < indices.length; i++) {
    const v = indices[i];
    if (v >= vocab) {
      invalid++;
      continue;
    }
    for (let d = 0; d < dim; d++) y[i * dim + d] = weight[v * dim + d];
  }
  return { y, invalid };
}

/** The graph op's outputs: y, and the out-of-range count as a [1] tensor. */
export function embeddingOutputsRef(indices: ArrayLike<number>, weight: ArrayLike<number>, dim: number): Float64Array[] {
  const { y, invalid } = embeddingRef(indices, weight, dim);
  return [y, Float64Array.of(invalid)];
}

/** d Σ(dy ⊙ y) / d weight: each dy row added to the row its index picked; out-of-range ones dropped. */
export function embeddingBackwardRef(dy: ArrayLike<number>, indices: ArrayLike<number>, vocab: number, dim: number): Float64Array {
  const dw = new Float64Array(vocab * dim);
  for (let i = 0; i < indices.length; i++) {
    if (indices[i] >= vocab) continue;
    for (let d = 0; d < dim; d++) dw[indices[i] * dim + d] += dy[i * dim + d];
  }
  return dw;
}

export const embeddingOpRef: RefOp<'embedding'> = ([indices, weight], { inputs: [, wV] }) => embeddingOutputsRef(indices, weight, wV.shape[1]);
export const embeddingBackwardOpRef: RefOp<'embedding_backward'> = ([dy, indices], { attrs, inputs: [dyV] }) => [
  embeddingBackwardRef(dy, indices, attrs.numEmbeddings, dyV.shape.at(-1)!),
];
