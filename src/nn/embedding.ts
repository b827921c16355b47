import { ShapeError } from '../gpu/errors.js';
import { describeShape, type Graph, type Value } from '../graph/ir.js';
import { Module, type ForwardContext, type ParamSpec } from './module.js';

/**
 * torch.nn.Embedding(num_embeddings, embedding_dim): u32 indices [..] → rows of `weight`
 * [num, dim], giving [.., dim]; weight initialised N(0, 1) as PyTorch does. An index >= num has no
 * row: it yields zeros and is counted, and `invalidCount(g)` gives that count (f32 [1]) so a
 * training loop can read it with its metrics and raise, as it does for out-of-range labels.
 */
export class Embedding extends Module {
  private readonly invalid = new WeakMap<Graph, Value>();

  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
  ) {
    super();
    for (const [what, v] of [['num_embeddings', numEmbeddings], ['embedding_dim', embeddingDim]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new ShapeError(`Embedding: ${what} ${v} must be a positive integer`);
    }
  }

  describe(): string {
    return `Embedding(${this.numEmbeddings}, ${this.embeddingDim})`;
  }

  override params(): ParamSpec[] {
    return [{ name: 'weight', shape: [this.numEmbeddings, this.embeddingDim], init: { kind: 'normal', mean: 0, std: 1 } }];
  }

  forward(g: Graph, x: Value, ctx: ForwardContext): Value {
    if (x.dtype !== 'u32') {
      throw new ShapeError(`${this.describe()} got ${x.dtype} input ${describeShape(x.shape)}: expected u32 indices in [0, ${this.numEmbeddings}); declare the input with dtype 'u32'`);
    }
    const [y, invalid] = g.apply('embedding', [x, this.param(g, ctx, 'weight')], {});
    const earlier = this.invalid.get(g);
    this.invalid.set(g, earlier ? g.apply('add', [earlier, invalid], {})[0] : invalid);
    return y;
  }

  /** Indices >= numEmbeddings met by this layer in graph `g` (every application summed), or undefined if not applied there. */
  invalidCount(g: Graph): Value | undefined {
    return this.invalid.get(g);
  }
}
