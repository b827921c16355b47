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

/** Weight and optional bias of a conv layer, initialised U(±1/√fanIn) as PyTorch's reset_parameters does. */
function convParamSpecs(weightShape: readonly number[], fanIn: number, outChannels: number, bias: boolean): ParamSpec[] {
  const bound = 1 / Math.sqrt(fanIn);
  const init = { kind: 'uniform', low: -bound, high: bound } as const;
  const specs: ParamSpec[] = [{ name: 'weight', shape: weightShape, init }];
  if (bias) specs.push({ name: 'bias', shape: [outChannels], init });
  return specs;
}

/** Kernel, stride, padding and dilation of a conv layer, checked once; `'same'`/`'valid'` only where `named` (Conv2d). */
function convGeometry(layer: string, kernelSize: Size, o: Conv2dOptions, named: boolean): { kernel: Pair2; stride: Pair2; padding: Pair2; dilation: Pair2 } {
  const kernel = pair(layer, 'kernelSize', kernelSize, 1, 1);
  const stride = pair(layer, 'stride', o.stride, 1, 1);
  const dilation = pair(layer, 'dilation', o.dilation, 1, 1);
  if (!named && o.groups !== undefined && o.groups !== 1) throw new ShapeError(`${layer}: groups ${o.groups} is not supported here; use groups 1`);
  if (typeof o.padding !== 'string') return { kernel, stride, padding: pair(layer, 'padding', o.padding, 0, 0), dilation };
  if (!named) throw new ShapeError(`${layer}: padding '${o.padding}' is not supported here (as in PyTorch); give the padding as a number or [h, w]`);
  if (o.padding === 'valid') return { kernel, stride, padding: [0, 0], dilation };
  if (o.padding !== 'same') throw new ShapeError(`${layer}: padding '${String(o.padding)}' must be a number, [h, w], 'same' or 'valid'`);
  if (stride[0] !== 1 || stride[1] !== 1) {
    throw new ShapeError(`${layer}: padding 'same' needs stride 1 (got [${stride.join(', ')}]), as in PyTorch; give the padding as numbers for a strided convolution`);
  }
  // 'same' pads dilation·(k − 1) in total per axis; only an even total splits equally on both sides.
  const total = [0, 1].map((d) => dilation[d] * (kernel[d] - 1));
  if (total.some((t) => t % 2 !== 0)) {
    throw new ShapeError(
      `${layer}: padding 'same' with kernel [${kernel.join(', ')}] and dilation [${dilation.join(', ')}] needs ${total.join(' and ')} padding in total, ` +
        'which does not split evenly between the two sides; only symmetric padding is supported: use an odd kernel size',
    );
  }
  return { kernel, stride, padding: [total[0] / 2, total[1] / 2], dilation };
}

/**
 * Options of `Conv2d` and `ConvTranspose2d`, as in torch.nn: stride, padding, dilation (a number or
 * [h, w]; defaults 1, 0, 1) and bias (default true). Conv2d also takes padding 'valid' (none) and
 * 'same' (output as large as the input: stride 1, and dilation·(kernel − 1) even on each axis).
 */
export interface Conv2dOptions {
  stride?: Size;
  padding?: Size | 'same' | 'valid';
  dilation?: Size;
  bias?: boolean;
  /** Conv2d only: channel groups (default 1); groups = in = out channels is a depthwise convolution. */
  groups?: number;
}

function checkInput(layer: string, x: Value, channels: number): void {
  if (x.shape.length !== 4 || x.shape[1] !== channels) {
    throw new ShapeError(`${layer} got input ${describeShape(x.shape)}: expected [batch, ${channels}, height, width]`);
  }
}

/** torch.nn.Conv2d: weight [Cout, Cin/groups, KH, KW], initialised U(±1/√(Cin/groups·KH·KW)) as PyTorch does. */
export class Conv2d extends Module {
  readonly kernel: Pair2;
  readonly stride: Pair2;
  readonly padding: Pair2;
  readonly dilation: Pair2;
  readonly groups: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Size,
    readonly options: Conv2dOptions = {},
  ) {
    super();
    ({ kernel: this.kernel, stride: this.stride, padding: this.padding, dilation: this.dilation } = convGeometry(this.describe(), kernelSize, options, true));
    this.groups = options.groups ?? 1;
    if (!Number.isInteger(this.groups) || this.groups < 1 || inChannels % this.groups !== 0 || outChannels % this.groups !== 0) {
      throw new ShapeError(`${this.describe()}: groups ${this.groups} must be a positive integer dividing both ${inChannels} input and ${outChannels} output channels`);
    }
  }

  describe(): string {
    return `Conv2d(${this.inChannels}→${this.outChannels})`;
  }

  override params(): ParamSpec[] {
    const perGroup = this.inChannels / this.groups;
    const fanIn = perGroup * this.kernel[0] * this.kernel[1];
    return convParamSpecs([this.outChannels, perGroup, ...this.kernel], fanIn, this.outChannels, this.options.bias ?? true);
  }

  forward(g: Graph, x: Value, ctx: ForwardContext): Value {
    checkInput(this.describe(), x, this.inChannels);
    const grouping = this.groups === 1 ? {} : { groups: this.groups };
    let y = g.apply('conv2d', [x, this.param(g, ctx, 'weight')], { stride: this.stride, padding: this.padding, dilation: this.dilation, ...grouping })[0];
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
    ({ kernel: this.kernel, stride: this.stride, padding: this.padding, dilation: this.dilation } = convGeometry(this.describe(), kernelSize, options, false));
    this.outputPadding = pair(this.describe(), 'outputPadding', options.outputPadding, 0, 0);
  }

  describe(): string {
    return `ConvTranspose2d(${this.inChannels}→${this.outChannels})`;
  }

  override params(): ParamSpec[] {
    // PyTorch takes fan-in from the weight's dimension 1, which is Cout for a transposed conv.
    const fanIn = this.outChannels * this.kernel[0] * this.kernel[1];
    return convParamSpecs([this.inChannels, this.outChannels, ...this.kernel], fanIn, this.outChannels, this.options.bias ?? true);
  }

  forward(g: Graph, x: Value, ctx: ForwardContext): Value {
    checkInput(this.describe(), x, this.inChannels);
    const attrs = { stride: this.stride, padding: this.padding, dilation: this.dilation, outputPadding: this.outputPadding };
    let y = g.apply('conv_transpose2d', [x, this.param(g, ctx, 'weight')], attrs)[0];
    if (this.options.bias ?? true) y = g.apply('bias_add', [y, this.param(g, ctx, 'bias')], { axis: 1 })[0];
    return y;
  }
}

/** Options of `MaxPool2d` and `AvgPool2d`: stride (default the kernel size) and padding (default 0), a number or [h, w]. */
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
