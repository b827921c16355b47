import { ShapeError } from '../gpu/errors.js';
import { describeShape, type Graph, type Value } from '../graph/ir.js';
import type { ParameterStore } from '../graph/params.js';
import { Module, type ForwardContext, type ParamSpec } from './module.js';

/** Options of `BatchNorm1d` and `BatchNorm2d`, as in torch.nn. */
export interface BatchNormOptions {
  /** Added to the variance before the square root; default 1e-5. */
  eps?: number;
  /** running = (1 − momentum)·running + momentum·batch; default 0.1. */
  momentum?: number;
  /** Learnable per-channel weight (γ) and bias (β); default true. */
  affine?: boolean;
}

/**
 * Batch normalisation as torch.nn.BatchNorm1d/2d: parameters `weight` (1) and `bias` (0), buffers
 * `running_mean` (0), `running_var` (1) and `num_batches_tracked` (0, shape [] as PyTorch's). Training
 * mode normalises with the batch statistics and updates the running ones in place, counting the
 * batch; evaluation mode uses the running statistics. The count is f32 (checkpoints hold F32 only;
 * PyTorch's load_state_dict casts it to its int64 buffer), exact up to 2^24 batches.
 */
abstract class BatchNorm extends Module {
  readonly eps: number;
  readonly momentum: number;
  readonly affine: boolean;

  constructor(
    readonly features: number,
    options: BatchNormOptions,
  ) {
    super();
    this.eps = options.eps ?? 1e-5;
    this.momentum = options.momentum ?? 0.1;
    this.affine = options.affine ?? true;
    const name = this.describe();
    if (!Number.isInteger(features) || features < 1) throw new ShapeError(`${name}: the number of features ${features} must be a positive integer`);
    if (!(this.eps >= 0)) throw new ShapeError(`${name}: eps ${this.eps} must be non-negative`);
    if (!(this.momentum >= 0 && this.momentum <= 1)) throw new ShapeError(`${name}: momentum ${this.momentum} must lie in [0, 1]`);
  }

  protected abstract checkInput(x: Value): void;

  override params(): ParamSpec[] {
    if (!this.affine) return [];
    return [
      { name: 'weight', shape: [this.features], init: { kind: 'constant', value: 1 } },
      { name: 'bias', shape: [this.features], init: { kind: 'constant', value: 0 } },
    ];
  }

  override register(store: ParameterStore, path = this.path): void {
    super.register(store, path);
    const prefix = path ? `${path}.` : '';
    store.addBuffer(`${prefix}running_mean`, [this.features], { kind: 'constant', value: 0 });
    store.addBuffer(`${prefix}running_var`, [this.features], { kind: 'constant', value: 1 });
    store.addBuffer(`${prefix}num_batches_tracked`, [], { kind: 'constant', value: 0 });
  }

  forward(g: Graph, x: Value, ctx: ForwardContext): Value {
    this.checkInput(x);
    const runningMean = this.param(g, ctx, 'running_mean');
    const runningVar = this.param(g, ctx, 'running_var');
    const affine = this.affine ? [this.param(g, ctx, 'weight'), this.param(g, ctx, 'bias')] : [];
    if (ctx.training) {
      const count = this.param(g, ctx, 'num_batches_tracked');
      return g.apply('batch_norm', [x, ...affine, runningMean, runningVar, count], { eps: this.eps, momentum: this.momentum, affine: this.affine, countBatches: true })[0];
    }
    return g.apply('batch_norm_eval', [x, runningMean, runningVar, ...affine], { eps: this.eps, affine: this.affine })[0];
  }
}

/** torch.nn.BatchNorm1d over [batch, features]. */
export class BatchNorm1d extends BatchNorm {
  constructor(features: number, options: BatchNormOptions = {}) {
    super(features, options);
  }

  describe(): string {
    return `BatchNorm1d(${this.features})`;
  }

  protected checkInput(x: Value): void {
    if (x.shape.length !== 2 || x.shape[1] !== this.features) {
      throw new ShapeError(
        `${this.describe()} got input ${describeShape(x.shape)}: expected [batch, ${this.features}]` +
          (x.shape.length === 4 ? '; use BatchNorm2d for [batch, channels, height, width]' : ''),
      );
    }
  }
}

/** torch.nn.BatchNorm2d over [batch, channels, height, width], statistics per channel. */
export class BatchNorm2d extends BatchNorm {
  constructor(channels: number, options: BatchNormOptions = {}) {
    super(channels, options);
  }

  describe(): string {
    return `BatchNorm2d(${this.features})`;
  }

  protected checkInput(x: Value): void {
    if (x.shape.length !== 4 || x.shape[1] !== this.features) {
      throw new ShapeError(`${this.describe()} got input ${describeShape(x.shape)}: expected [batch, ${this.features}, height, width]`);
    }
  }
}

/**
 * torch.nn.LayerNorm(normalized_shape) over the last axis: each row of `features` values is
 * normalised with its own mean and biased variance, then scaled by `weight` (1) and shifted by
 * `bias` (0). The same in training and evaluation; no running statistics.
 */
export class LayerNorm extends Module {
  readonly eps: number;

  constructor(
    readonly features: number,
    options: { eps?: number } = {},
  ) {
    super();
    this.eps = options.eps ?? 1e-5;
    if (!Number.isInteger(features) || features < 1) throw new ShapeError(`${this.describe()}: normalized_shape ${features} must be a positive integer`);
    if (!(this.eps >= 0) || !Number.isFinite(this.eps)) throw new ShapeError(`${this.describe()}: eps ${this.eps} must be a finite non-negative number (default 1e-5)`);
  }

  describe(): string {
    return `LayerNorm(${this.features})`;
  }

  override params(): ParamSpec[] {
    return [
      { name: 'weight', shape: [this.features], init: { kind: 'constant', value: 1 } },
      { name: 'bias', shape: [this.features], init: { kind: 'constant', value: 0 } },
    ];
  }

  forward(g: Graph, x: Value, ctx: ForwardContext): Value {
    if (x.shape.length === 0 || x.shape[x.shape.length - 1] !== this.features) {
      throw new ShapeError(`${this.describe()} got input ${describeShape(x.shape)}: expected [..., ${this.features}] (the last axis is normalised)`);
    }
    return g.apply('layer_norm', [x, this.param(g, ctx, 'weight'), this.param(g, ctx, 'bias')], { eps: this.eps })[0];
  }
}
