import { ShapeError } from '../../gpu/errors.js';
import { embeddingBackwardProgram, embeddingProgram } from '../../kernels/embedding.js';
import { describeShape } from '../ir.js';
import { program } from '../lower.js';
import { expectArity, expectF32, materialise, type OpRule } from './rule.js';

/** The op kinds this file defines, with their attributes (see OpAttrs in ./kinds.ts). */
export interface EmbeddingOps {
  /** indices [..] u32, weight [V, D] → y [.., D], invalid [1] (indices >= V: zero rows, counted): torch.nn.Embedding. */
  embedding: Record<string, never>;
  /** dy [.., D], indices [..] → dweight [numEmbeddings, D], summed over repeated indices in index order. */
  embedding_backward: { numEmbeddings: number };
}

export const embeddingRule: OpRule<'embedding'> = {
  infer(inputs, _attrs, where) {
    expectArity(where, inputs, 2, 'indices, weight');
    const [indices, weight] = inputs;
    if (indices.dtype !== 'u32') {
      throw new ShapeError(`${where}: indices ${describeShape(indices.shape)} must be u32 row numbers, got ${indices.dtype}; declare the input with dtype 'u32'`);
    }
    expectF32(where, 'weight', weight);
    if (weight.shape.length !== 2) throw new ShapeError(`${where}: weight ${describeShape(weight.shape)} must be [num_embeddings, embedding_dim]`);
    // Outputs: y [..indices, dim], and invalid [1]: how many indices are >= num_embeddings, as f32.
    // Their rows of y are zero and they add nothing to the gradient; like softmax_cross_entropy's
    // invalid labels, a training loop reads the count with its metrics and raises when it is > 0.
    return [
      { shape: [...indices.shape, weight.shape[1]], dtype: 'f32' },
      { shape: [1], dtype: 'f32' },
    ];
  },
  // y[i] = W[idx[i]]: dW[v] = Σ_{i: idx[i] = v} dy[i]; the indices are integers, with no gradient.
  grad(g, node, [up, upInvalid], needs) {
    if (upInvalid !== null) throw new ShapeError(`gradients: ${node.layer ? `${node.layer}: ` : ''}embedding's invalid-index count is not differentiable`);
    if (up === null || !needs[1]) return [null, null];
    const [indices, weight] = node.inputs;
    const dy = materialise(g, up, node.outputs[0]);
    return [null, g.apply('embedding_backward', [dy, indices], { numEmbeddings: weight.shape[0] })[0]];
  },
  lower: ({ inputs: [indices, weight] }) => program(embeddingProgram(indices.size, weight.shape[1], weight.shape[0])),
};

export const embeddingBackwardRule: OpRule<'embedding_backward'> = {
  infer(inputs, { numEmbeddings }, where) {
    expectArity(where, inputs, 2, 'dy, indices');
    const [dy, indices] = inputs;
    expectF32(where, 'dy', dy);
    if (indices.dtype !== 'u32' || dy.shape.length !== indices.shape.length + 1 || indices.shape.some((d, i) => d !== dy.shape[i])) {
      throw new ShapeError(`${where}: dy ${describeShape(dy.shape)} must be the indices' shape ${describeShape(indices.shape)} plus the embedding dimension`);
    }
    if (!Number.isInteger(numEmbeddings) || numEmbeddings < 1) throw new ShapeError(`${where}: numEmbeddings ${numEmbeddings} must be a positive integer`);
    return [{ shape: [numEmbeddings, dy.shape[dy.shape.length - 1]], dtype: 'f32' }];
  },
  grad: 'nondiff',
  lower: ({ inputs: [dy, indices], attrs }) => program(embeddingBackwardProgram(indices.size, dy.shape[dy.shape.length - 1], attrs.numEmbeddings)),
};
