import { ShapeError } from '../gpu/errors.js';
import { describeShape, type Graph, type Value } from '../graph/ir.js';
import type { ParameterStore } from '../graph/params.js';
import { CausalSelfAttention } from '../nn/attention.js';
import { Dropout } from '../nn/dropout.js';
import { Embedding } from '../nn/embedding.js';
import { GELU, Linear } from '../nn/layers.js';
import { Module, type ForwardContext } from '../nn/module.js';
import { LayerNorm } from '../nn/normalization.js';

/** The architecture of a character transformer: everything needed to rebuild it. */
export interface TransformerConfig {
  /** Distinct tokens (characters). */
  vocab: number;
  /** Tokens per window; the model takes exactly this many (positions are learned for each). */
  context: number;
  layers: number;
  heads: number;
  /** Width of the residual stream; a multiple of `heads`. */
  dim: number;
  /** Dropout after attention and MLP outputs and on the embeddings; default 0. */
  dropout?: number;
}

/** Registers `child` at `${path}.${name}` (or `name` at the root), as torch's named submodules. */
function registerAt(child: Module, store: ParameterStore, path: string, name: string): void {
  child.register(store, path ? `${path}.${name}` : name);
}

/** The GPT MLP: fc (dim → 4·dim), GELU, proj (4·dim → dim), on [.., dim]. */
export class TransformerMlp extends Module {
  readonly fc: Linear;
  readonly act = GELU();
  readonly proj: Linear;

  constructor(readonly dim: number) {
    super();
    this.fc = new Linear(dim, 4 * dim);
    this.proj = new Linear(4 * dim, dim);
  }

  describe(): string {
    return `Mlp(${this.dim}→${4 * this.dim}→${this.dim})`;
  }

  override children(): Module[] {
    return [this.fc, this.proj];
  }

  override register(store: ParameterStore, path = this.path): void {
    this.path = path;
    registerAt(this.fc, store, path, 'fc');
    registerAt(this.proj, store, path, 'proj');
  }

  forward(g: Graph, x: Value, ctx: ForwardContext): Value {
    return this.proj.apply(g, this.act.apply(g, this.fc.apply(g, x, ctx), ctx), ctx);
  }
}

/** A pre-LayerNorm GPT block: x + attn(ln_1(x)), then + mlp(ln_2(·)), on [batch, tokens, dim]. */
export class TransformerBlock extends Module {
  readonly ln_1: LayerNorm;
  readonly attn: CausalSelfAttention;
  readonly ln_2: LayerNorm;
  readonly mlp: TransformerMlp;
  // Each its own layer (own path, so its own mask stream), as nanoGPT's resid_dropout and mlp dropout.
  private readonly dropAttn: Dropout | undefined;
  private readonly dropMlp: Dropout | undefined;

  constructor(
    readonly dim: number,
    readonly heads: number,
    dropout = 0,
  ) {
    super();
    this.ln_1 = new LayerNorm(dim);
    this.attn = new CausalSelfAttention(dim, heads);
    this.ln_2 = new LayerNorm(dim);
    this.mlp = new TransformerMlp(dim);
    this.dropAttn = dropout > 0 ? new Dropout(dropout) : undefined;
    this.dropMlp = dropout > 0 ? new Dropout(dropout) : undefined;
  }

  describe(): string {
    return `TransformerBlock(dim=${this.dim}, heads=${this.heads})`;
  }

  override children(): Module[] {
    return [this.ln_1, this.attn, this.ln_2, this.mlp];
  }

  override register(store: ParameterStore, path = this.path): void {
    this.path = path;
    for (const [name, child] of [['ln_1', this.ln_1], ['attn', this.attn], ['ln_2', this.ln_2], ['mlp', this.mlp]] as const) registerAt(child, store, path, name);
    if (this.dropAttn) registerAt(this.dropAttn, store, path, 'attn_drop');
    if (this.dropMlp) registerAt(this.dropMlp, store, path, 'mlp_drop');
  }

  forward(g: Graph, x: Value, ctx: ForwardContext): Value {
    const branch = (drop: Dropout | undefined, y: Value) => (drop ? drop.apply(g, y, ctx) : y);
    const h = g.apply('add', [x, branch(this.dropAttn, this.attn.apply(g, this.ln_1.apply(g, x, ctx), ctx))], {})[0];
    return g.apply('add', [h, branch(this.dropMlp, this.mlp.apply(g, this.ln_2.apply(g, h, ctx), ctx))], {})[0];
  }
}

/**
 * A GPT over characters, as nanoGPT's: token embedding plus learned position embedding, `layers`
 * pre-LayerNorm blocks, a final LayerNorm and a bias-free `lm_head` (not tied to the token
 * embedding). u32 tokens [batch, context] → logits [batch, context, vocab]. Parameter names are
 * nanoGPT's (`transformer.wte.weight`, `transformer.h.0.ln_1.weight`, …, `lm_head.weight`) with
 * attention's `qkv`/`proj` and the MLP's `fc`/`proj`, the same as scripts/torch_models.py's
 * CharTransformer, whose load_state_dict(strict=True) takes our checkpoints.
 */
export class CharTransformer extends Module {
  readonly wte: Embedding;
  readonly blocks: TransformerBlock[];
  readonly ln_f: LayerNorm;
  readonly lm_head: Linear;
  private readonly drop: Dropout | undefined;

  constructor(readonly config: Readonly<Required<TransformerConfig>>) {
    super();
    const { vocab, dim, heads, layers } = config;
    this.wte = new Embedding(vocab, dim);
    this.blocks = Array.from({ length: layers }, () => new TransformerBlock(dim, heads, config.dropout));
    this.ln_f = new LayerNorm(dim);
    this.lm_head = new Linear(dim, vocab, { bias: false });
    this.drop = config.dropout > 0 ? new Dropout(config.dropout) : undefined;
  }

  describe(): string {
    const c = this.config;
    return `CharTransformer(vocab=${c.vocab}, context=${c.context}, layers=${c.layers}, heads=${c.heads}, dim=${c.dim})`;
  }

  override children(): Module[] {
    return [this.wte, ...this.blocks, this.ln_f, this.lm_head];
  }

  override register(store: ParameterStore, path = this.path): void {
    this.path = path;
    const t = path ? `${path}.transformer` : 'transformer';
    registerAt(this.wte, store, t, 'wte');
    // N(0, 1) as torch.nn.Embedding, which nanoGPT's wpe is.
    store.add(`${t}.wpe.weight`, [this.config.context, this.config.dim], { kind: 'normal', mean: 0, std: 1 });
    this.blocks.forEach((b, i) => registerAt(b, store, `${t}.h`, String(i)));
    registerAt(this.ln_f, store, t, 'ln_f');
    if (this.drop) registerAt(this.drop, store, t, 'drop');
    registerAt(this.lm_head, store, path, 'lm_head');
  }

  forward(g: Graph, x: Value, ctx: ForwardContext): Value {
    const { context, dim } = this.config;
    if (x.shape.length !== 2 || x.shape[1] !== context) {
      throw new ShapeError(
        `${this.describe()} got tokens ${describeShape(x.shape)}: expected [batch, ${context}] (a window of exactly the context length; pad a shorter prompt at the end, causal attention keeps the padding from earlier positions)`,
      );
    }
    const batch = x.shape[0];
    const tokens = this.wte.apply(g, x, ctx);
    // All `context` positions are always present, so the position table adds as one broadcast row.
    const flat = g.apply('reshape', [tokens], { shape: [batch, context * dim] })[0];
    const wpe = g.apply('reshape', [ctx.store.value(g, `${this.transformerPath}.wpe.weight`)], { shape: [context * dim] })[0];
    let h = g.apply('reshape', [g.apply('bias_add', [flat, wpe], { axis: -1 })[0]], { shape: [batch, context, dim] })[0];
    if (this.drop) h = this.drop.apply(g, h, ctx);
    for (const block of this.blocks) h = block.apply(g, h, ctx);
    return this.lm_head.apply(g, this.ln_f.apply(g, h, ctx), ctx);
  }

  /** Token indices >= vocab met in graph `g`, f32 [1], or undefined if not applied there. */
  invalidCount(g: Graph): Value | undefined {
    return this.wte.invalidCount(g);
  }

  private get transformerPath(): string {
    return this.path ? `${this.path}.transformer` : 'transformer';
  }
}

/** Checks `config` and fills in the defaults; every message names the field, its value and the fix. */
export function checkTransformerConfig(config: TransformerConfig): Required<TransformerConfig> {
  if (typeof config !== 'object' || config === null) throw new ShapeError(`charTransformer: config must be an object { vocab, context, layers, heads, dim }, got ${String(config)}`);
  for (const field of ['vocab', 'context', 'layers', 'heads', 'dim'] as const) {
    const v = config[field];
    if (!Number.isInteger(v) || v < 1) throw new ShapeError(`charTransformer: ${field} ${String(v)} must be a positive integer`);
  }
  if (config.dim % config.heads !== 0) {
    throw new ShapeError(`charTransformer: dim ${config.dim} must be a multiple of heads ${config.heads} (each head takes dim / heads features)`);
  }
  const dropout = config.dropout ?? 0;
  if (!(dropout >= 0 && dropout < 1)) throw new ShapeError(`charTransformer: dropout ${String(dropout)} must lie in [0, 1)`);
  return { vocab: config.vocab, context: config.context, layers: config.layers, heads: config.heads, dim: config.dim, dropout };
}

/**
 * A character-level GPT (see `CharTransformer`): u32 tokens [batch, context] → logits
 * [batch, context, vocab]. Initialised as the PyTorch modules are by default (Linear U(±1/√in),
 * Embedding N(0, 1), LayerNorm 1 and 0).
 *
 * @example
 * const model = charTransformer({ vocab: 65, context: 64, layers: 4, heads: 4, dim: 128 });
 */
export function charTransformer(config: TransformerConfig): CharTransformer {
  return new CharTransformer(checkTransformerConfig(config));
}
