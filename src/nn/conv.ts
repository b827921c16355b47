import { ShapeError } from '../gpu/errors.js';
import { describeShape, type Graph, type Value } from '../graph/ir.js';
import type { Pair2 } from '../graph/ops/kinds.js';
import { Module, type ForwardContext, type ParamSpec } from './module.js';

type Size = number | readonly [number, number];

function pair(layer: string, name: string, v: Size | undefined, fallback: number, min: number): Pair2 {
  const p: Pair2 = v === undefined ? [fallback, fallback] : typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if (!p.every((d) => Number.isInteger(d) && d >= min)) throw new ShapeError(`${layer}: ${name} ${JSON.stringify(v)} must be integers ≥ ${min}`);
  return p;
}

export interface Conv2dOptions {
  stride?: Size;
  padding?: Size;
  dilation?: Size;
  bias?: boolean;
}

function checkInput(layer: string, x: Value, channels: number): void {
  if (x.shape.length !== 4 || x.shape[1] !== channels) {
    throw new ShapeError(`${layer} got input ${describeShape(x.shape)}: expected [batch, ${channels}, height, width]`);
  }
}

/** torch.nn.Conv2d: weight [Cout, Cin, KH, KW], initialised U(±1/√(Cin·KH·KW)) as PyTorch does. */
export class Conv2d extends Module {
  readonly kernel: Pair2;
  readonly stride: Pair2;
  readonly padding: Pair2;
  readonly dilation: Pair2;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Size,
    readonly options: Conv2dOptions = {},
  ) {
    super();
    const name = this.describe();
    this.kernel = pair(name, 'kernelSize', kernelSize, 1, 1);
    this.stride = pair(name, 'stride', options.stride, 1, 1);
    this.padding = pair(name, 'padding', options.padding, 0, 0);
    this.dilation = pair(name, 'dilation', options.dilation, 1, 1);
  }

  describe(): string {
    return `Conv2d(${this.inChannels}→${this.outChannels})`;
  }

  override params(): ParamSpec[] {
    const bound = 1 / Math.sqrt(this.inChannels * this.kernel[0] * this.kernel[1]);
    const init = { kind: 'uniform', low: -bound, high: bound } as const;
    const specs: ParamSpec[] = [{ name: 'weight', shape: [this.outChannels, this.inChannels, ...this.kernel], init }];
    if (this.options.bias ?? true) specs.push({ name: 'bias', shape: [this.outChannels], init });
    return specs;
  }

  forward(g: Graph, x: Value, ctx: ForwardContext): Value {
    checkInput(this.describe(), x, this.inChannels);
    let y = g.apply('conv2d', [x, this.param(g, ctx, 'weight')], { stride: this.stride, padding: this.padding, dilation: this.dilation })[0];
    if (this.options.bias ?? true) y = g.apply('bias_add', [y, this.param(g, ctx, 'bias')], { axis: 1 })[0];
    return y;
  }
}

/** torch.nn.ConvTranspose2d: weight [Cin, Cout, KH, KW], initialised U(±1/√(Cout·KH·KW)) as PyTorch does. */
export class ConvTranspose2d extends Module {
  readonly kernel: Pair2;
  readonly stride: Pair2;
  readonly padding: Pair2;
  readonly dilation: Pair2;
  readonly outputPadding: Pair2;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Size,
    readonly options: Conv2dOptions & { outputPadding?: Size } = {},
  ) {
    super();
    const name = this.describe();
    this.kernel = pair(name, 'kernelSize', kernelSize, 1, 1);
    this.stride = pair(name, 'stride', options.stride, 1, 1);
    this.padding = pair(name, 'padding', options.padding, 0, 0);
    this.dilation = pair(name, 'dilation', options.dilation, 1, 1);
    this.outputPadding = pair(name, 'outputPadding', options.outputPadding, 0, 0);
  }

  describe(): string {
    return `ConvTranspose2d(${this.inChannels}→${this.outChannels})`;
  }

  override params(): ParamSpec[] {
    const bound = 1 / Math.sqrt(this.outChannels * this.kernel[0] * this.kernel[1]);
    const init = { kind: 'uniform', low: -bound, high: bound } as const;
    const specs: ParamSpec[] = [{ name: 'weight', shape: [this.inChannels, this.outChannels, ...this.kernel], init }];
    if (this.options.bias ?? true) specs.push({ name: 'bias', shape: [this.outChannels], init });
    return specs;
  }

  forward(g: Graph, x: Value, ctx: ForwardContext): Value {
    checkInput(this.describe(), x, this.inChannels);
    const attrs = { stride: this.stride, padding: this.padding, dilation: this.dilation, outputPadding: this.outputPadding };
    let y = g.apply('conv_transpose2d', [x, this.param(g, ctx, 'weight')], attrs)[0];
    if (this.options.bias ?? true) y = g.apply('bias_add', [y, this.param(g, ctx, 'bias')], { axis: 1 })[0];
    return y;
  }
}

export interface Pool2dOptions {
  stride?: Size;
  padding?: Size;
}

/** torch.nn.MaxPool2d (stride defaults to the kernel size). */
export class MaxPool2d extends Module {
  readonly kernel: Pair2;
  readonly stride: Pair2;
  readonly padding: Pair2;

  constructor(kernelSize: Size, options: Pool2dOptions = {}) {
    super();
    this.kernel = pair('MaxPool2d', 'kernelSize', kernelSize, 1, 1);
    this.stride = options.stride === undefined ? this.kernel : pair('MaxPool2d', 'stride', options.stride, 1, 1);
    this.padding = pair('MaxPool2d', 'padding', options.padding, 0, 0);
  }

  describe(): string {
    return `MaxPool2d(${this.kernel.join('×')})`;
  }

  forward(g: Graph, x: Value): Value {
    return g.apply('max_pool2d', [x], { kernel: this.kernel, stride: this.stride, padding: this.padding, dilation: [1, 1] })[0];
  }
}

/** torch.nn.AvgPool2d with count_include_pad=True. */
export class AvgPool2d extends Module {
  readonly kernel: Pair2;
  readonly stride: Pair2;
  readonly padding: Pair2;

  constructor(kernelSize: Size, options: Pool2dOptions = {}) {
    super();
    this.kernel = pair('AvgPool2d', 'kernelSize', kernelSize, 1, 1);
    this.stride = options.stride === undefined ? this.kernel : pair('AvgPool2d', 'stride', options.stride, 1, 1);
    this.padding = pair('AvgPool2d', 'padding', options.padding, 0, 0);
  }

  describe(): string {
    return `AvgPool2d(${this.kernel.join('×')})`;
  }

  forward(g: Graph, x: Value): Value {
    return g.apply('avg_pool2d', [x], { kernel: this.kernel, stride: this.stride, padding: this.padding, countIncludePad: true })[0];
  }
}
