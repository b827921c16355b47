import { ShapeError } from '../gpu/errors.js';
import { describeShape, type Graph, type Value } from '../graph/ir.js';
import type { ParameterStore } from '../graph/params.js';
import { Linear } from './layers.js';
import { Module, type ForwardContext } from './module.js';

/**
 * Causal multi-head self-attention as in a GPT block: one fused `qkv` Linear (dim → 3·dim; q, k, v
 * stacked along its outputs in that order, each split into heads as torch's
 * `view(B, T, heads, dim / heads)`), the fused causal_attention op with scale 1/√(dim / heads),
 * then the `proj` Linear (dim → dim). Input and output [batch, tokens, dim]. Parameter names follow
 * PyTorch (`qkv.weight`, `qkv.bias`, `proj.weight`, `proj.bias`), so a checkpoint maps onto
 * the equivalent torch.nn module.
 */
export class CausalSelfAttention extends Module {
  readonly qkv: Linear;
  readonly proj: Linear;

  constructor(
    readonly dim: number,
    readonly heads: number,
  ) {
    super();
    for (const [what, v] of [['dim', dim], ['heads', heads]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new ShapeError(`CausalSelfAttention: ${what} ${v} must be a positive integer`);
    }
    if (dim % heads !== 0) throw new ShapeError(`CausalSelfAttention: dim ${dim} must be a multiple of heads ${heads}, each head taking dim / heads features`);
    this.qkv = new Linear(dim, 3 * dim);
    this.proj = new Linear(dim, dim);
  }

  describe(): string {
    return `CausalSelfAttention(dim=${this.dim}, heads=${this.heads})`;
  }

  override children(): Module[] {
    return [this.qkv, this.proj];
  }

  /** Children are named `qkv` and `proj`, as torch's attributes, not by position. */
  override register(store: ParameterStore, path = this.path): void {
    this.path = path;
    this.qkv.register(store, path ? `${path}.qkv` : 'qkv');
    this.proj.register(store, path ? `${path}.proj` : 'proj');
  }

  forward(g: Graph, x: Value, ctx: ForwardContext): Value {
    if (x.shape.length !== 3 || x.shape[2] !== this.dim) {
      throw new ShapeError(`${this.describe()} got input ${describeShape(x.shape)}: expected [batch, tokens, ${this.dim}]`);
    }
    const [batch, tokens] = x.shape;
    const rows = (v: Value, features: number) => g.apply('reshape', [v], { shape: [batch * tokens, features] })[0];
    const qkv = this.qkv.apply(g, rows(x, this.dim), ctx);
    const packed = g.apply('reshape', [qkv], { shape: [batch, tokens, 3 * this.dim] })[0];
    const scale = 1 / Math.sqrt(this.dim / this.heads);
    const [y] = g.apply('causal_attention', [packed], { heads: this.heads, scale });
    const out = this.proj.apply(g, rows(y, this.dim), ctx);
    return g.apply('reshape', [out], { shape: [batch, tokens, this.dim] })[0];
  }
}
