import { ShapeError } from '../gpu/errors.js';
import type { Graph, Value } from '../graph/ir.js';
import { Module, type ForwardContext } from './module.js';

/** 32-bit FNV-1a: a stable per-layer seed from the store's seed and the layer's path. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * torch.nn.Dropout: in training, zeroes each element with probability p and scales the rest by
 * 1/(1 − p), with a fresh mask every run of the compiled step; in evaluation, the identity.
 * The mask's seed is `options.seed`, or else derived from the store's seed and this layer's path,
 * so two Dropout layers draw independent masks.
 */
export class Dropout extends Module {
  constructor(
    readonly p = 0.5,
    readonly options: { seed?: number } = {},
  ) {
    super();
    if (!(p >= 0 && p <= 1)) throw new ShapeError(`Dropout: p = ${p} must lie in [0, 1]`);
  }

  describe(): string {
    return `Dropout(p=${this.p})`;
  }

  forward(g: Graph, x: Value, ctx: ForwardContext): Value {
    if (!ctx.training || this.p === 0) return x;
    const seed = this.options.seed ?? fnv1a(`${ctx.store.options.seed}:${this.path}`);
    return g.apply('dropout', [x], { p: this.p, seed })[0];
  }
}
