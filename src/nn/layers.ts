import type { ActivationSpec } from '../../shaders/lib/activations.js';
import { ShapeError } from '../gpu/errors.js';
import { describeShape, type Graph, type Value } from '../graph/ir.js';
import type { ParameterStore } from '../graph/params.js';
import { Module, type ForwardContext, type ParamSpec } from './module.js';

/** y = x·Wᵀ + b with W [out, in] as torch.nn.Linear, initialised as PyTorch does: U(±1/√in). */
export class Linear extends Module {
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    readonly options: { bias?: boolean } = {},
  ) {
    super();
    for (const [what, v] of [['in', inFeatures], ['out', outFeatures]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new ShapeError(`Linear: ${what}Features ${v} must be a positive integer`);
    }
  }

  describe(): string {
    return `Linear(${this.inFeatures}→${this.outFeatures})`;
  }

  override params(): ParamSpec[] {
    // kaiming_uniform_(a=√5) on the weight and U(±1/√fan_in) on the bias both reduce to this bound.
    const bound = 1 / Math.sqrt(this.inFeatures);
    const init = { kind: 'uniform', low: -bound, high: bound } as const;
    const specs: ParamSpec[] = [{ name: 'weight', shape: [this.outFeatures, this.inFeatures], init }];
    if (this.options.bias ?? true) specs.push({ name: 'bias', shape: [this.outFeatures], init });
    return specs;
  }

  /** Input [.., in] → [.., out] as torch.nn.Linear, the weight shared by every leading position. */
  forward(g: Graph, x: Value, ctx: ForwardContext): Value {
    if (x.shape.length < 2 || x.shape[x.shape.length - 1] !== this.inFeatures) {
      const lead = x.shape.length > 2 ? '...' : 'batch';
      throw new ShapeError(
        `${this.describe()} got input ${describeShape(x.shape)}: expected [${lead}, ${this.inFeatures}]` +
          (x.shape.length === 4 ? '; add a Flatten layer before it to use all features of an image' : ''),
      );
    }
    // Leading axes fold into one (free views): a 2-D product keeps its bias gradient fused with dW,
    // which a [batch, time, in] product (the matmul op takes it too) would not.
    const lead = x.shape.slice(0, -1);
    const rows = lead.reduce((a, b) => a * b, 1);
    const flat = x.shape.length > 2 ? g.apply('reshape', [x], { shape: [rows, this.inFeatures] })[0] : x;
    let y = g.apply('matmul', [flat, this.param(g, ctx, 'weight')], { transA: false, transB: true })[0];
    if (this.options.bias ?? true) y = g.apply('bias_add', [y, this.param(g, ctx, 'bias')], { axis: -1 })[0];
    return x.shape.length > 2 ? g.apply('reshape', [y], { shape: [...lead, this.outFeatures] })[0] : y;
  }
}

/** A pointwise nonlinearity. */
export class Activation extends Module {
  constructor(readonly spec: ActivationSpec) {
    super();
  }

  describe(): string {
    return this.spec.kind === 'leaky_relu' ? `LeakyReLU(${this.spec.alpha ?? 0.01})` : this.spec.kind;
  }

  forward(g: Graph, x: Value): Value {
    return g.apply('activation', [x], { activation: this.spec })[0];
  }
}

/** torch.nn.ReLU: max(0, x). */
export const ReLU = () => new Activation({ kind: 'relu' });
/** max(0, x) + alpha·min(0, x) as torch.nn.LeakyReLU; any finite slope, negative ones included. */
export const LeakyReLU = (alpha = 0.01) => {
  if (typeof alpha !== 'number' || !Number.isFinite(alpha)) throw new ShapeError(`LeakyReLU: negative_slope ${String(alpha)} must be a finite number (PyTorch's default is 0.01)`);
  return new Activation({ kind: 'leaky_relu', alpha });
};
/** torch.nn.Sigmoid: 1 / (1 + e^−x). */
export const Sigmoid = () => new Activation({ kind: 'sigmoid' });
/** torch.nn.Tanh. */
export const Tanh = () => new Activation({ kind: 'tanh' });
/** torch.nn.GELU (the erf form, PyTorch's default). */
export const GELU = () => new Activation({ kind: 'gelu' });

/**
 * Probabilities along one axis, as torch.nn.Softmax(dim). The kernel normalises the last axis, so
 * `dim` must name it (-1, the default, always does). For training a classifier keep the logits and
 * use the fused softmax cross-entropy loss instead: it is one kernel and numerically safer.
 */
export class Softmax extends Module {
  constructor(readonly dim = -1) {
    super();
    if (!Number.isInteger(dim)) throw new ShapeError(`Softmax: dim ${dim} must be an integer axis (-1 for the last)`);
  }

  describe(): string {
    return `Softmax(dim=${this.dim})`;
  }

  forward(g: Graph, x: Value): Value {
    const last = x.shape.length - 1;
    if (this.dim !== -1 && this.dim !== last) {
      throw new ShapeError(
        `${this.describe()} on input [${x.shape.join(', ')}]: only the last axis (dim=-1 or dim=${last}) is supported; move the axis last (reshape) or use dim=-1`,
      );
    }
    return g.apply('softmax', [x], {})[0];
  }
}

/** [batch, ...] → [batch, product of the rest], as torch.nn.Flatten. */
export class Flatten extends Module {
  describe(): string {
    return 'Flatten';
  }

  forward(g: Graph, x: Value): Value {
    const rest = x.shape.slice(1).reduce((a, b) => a * b, 1);
    return x.shape.length === 2 ? x : g.apply('reshape', [x], { shape: [x.shape[0], rest] })[0];
  }
}

/** Children applied in order; parameters named '0.weight', '1.bias', … like torch.nn.Sequential. */
export class Sequential extends Module {
  readonly layers: Module[];

  constructor(...layers: Module[]) {
    super();
    if (!layers.length) throw new ShapeError('Sequential needs at least one layer');
    this.layers = layers;
  }

  describe(): string {
    return 'Sequential';
  }

  override children(): Module[] {
    return this.layers;
  }

  forward(g: Graph, x: Value, ctx: ForwardContext): Value {
    return this.layers.reduce((h, layer) => layer.apply(g, h, ctx), x);
  }

  /** Sequential is transparent in error messages: its children name themselves. */
  override apply(g: Graph, x: Value, ctx: ForwardContext): Value {
    return this.forward(g, x, ctx);
  }
}

/**
 * x + inner(x): a residual connection around `inner`, whose output must have x's shape. Transparent
 * in parameter names (PyTorch writes the sum in forward, so inner's parameters sit at this path).
 */
export class Residual extends Module {
  constructor(readonly inner: Module) {
    super();
  }

  describe(): string {
    return `Residual(${this.inner.describe()})`;
  }

  override register(store: ParameterStore, path = this.path): void {
    this.path = path;
    this.inner.register(store, path);
  }

  forward(g: Graph, x: Value, ctx: ForwardContext): Value {
    const y = this.inner.apply(g, x, ctx);
    if (y.shape.join() !== x.shape.join()) {
      throw new ShapeError(`${this.describe()}: the inner output ${describeShape(y.shape)} differs from the input ${describeShape(x.shape)}; a residual needs equal shapes`);
    }
    return g.apply('add', [x, y], {})[0];
  }
}

/**
 * torch.nn.AdaptiveAvgPool2d(1): the mean of each channel's plane, [N, C, H, W] → [N, C, 1, 1]
 * (global average pooling; follow with Flatten for a classifier head). Only output size 1.
 */
export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: number | readonly [number, number] = 1) {
    super();
    const [h, w] = typeof outputSize === 'number' ? [outputSize, outputSize] : outputSize;
    if (h !== 1 || w !== 1) {
      throw new ShapeError(`AdaptiveAvgPool2d: output size ${JSON.stringify(outputSize)} is not supported; only 1 (global average pooling) is; use AvgPool2d for other sizes`);
    }
  }

  describe(): string {
    return 'AdaptiveAvgPool2d(1)';
  }

  forward(g: Graph, x: Value): Value {
    if (x.shape.length !== 4) throw new ShapeError(`${this.describe()} got input ${describeShape(x.shape)}: expected [batch, channels, height, width]`);
    const window: [number, number] = [x.shape[2], x.shape[3]];
    return g.apply('avg_pool2d', [x], { kernel: window, stride: window, padding: [0, 0], countIncludePad: true })[0];
  }
}

