import { ShapeError } from '../gpu/errors.js';
import { describeShape, type Graph, type Value } from '../graph/ir.js';
import type { ParameterStore } from '../graph/params.js';
import { Conv2d } from '../nn/conv.js';
import { AdaptiveAvgPool2d, Flatten, Linear, ReLU, Sequential } from '../nn/layers.js';
import { Module, type ForwardContext, type ParamSpec } from '../nn/module.js';
import { BatchNorm2d } from '../nn/normalization.js';

/** The architecture of a CIFAR ResNet: everything needed to rebuild it (checkpoint metadata holds it). */
export interface ResNetConfig {
  /** Weighted layers: 6n + 2 for n basic blocks per stage (20, 32, 44, 56, 110 in He et al.). */
  depth: number;
  /** Channels of the first stage (16 in the paper); the others have 2× and 4× as many. */
  width?: number;
  /** Output classes (10 for CIFAR-10). */
  classes?: number;
  /** Input channels (3 for RGB). */
  channels?: number;
}

/** He (kaiming_normal_, fan_in) initialisation: N(0, 2/fan_in), as the paper's CIFAR models use. */
function heNormal(specs: ParamSpec[], fanIn: number): ParamSpec[] {
  return specs.map((p) => (p.name === 'weight' ? { ...p, init: { kind: 'normal', mean: 0, std: Math.sqrt(2 / fanIn) } } : p));
}

/** A bias-free 3×3 convolution with He initialisation. */
export class Conv3x3 extends Conv2d {
  constructor(inChannels: number, outChannels: number, stride: number) {
    super(inChannels, outChannels, 3, { stride, padding: 1, bias: false });
  }

  override params(): ParamSpec[] {
    return heNormal(super.params(), this.inChannels * 9);
  }
}

/** Linear with He-initialised weights (PyTorch's default bias). */
export class HeLinear extends Linear {
  override params(): ParamSpec[] {
    return heNormal(super.params(), this.inFeatures);
  }
}

/** Registers `child` at `${path}.${name}` (or `name` at the root), as torch's named submodules. */
function registerAt(child: Module, store: ParameterStore, path: string, name: string): void {
  child.register(store, path ? `${path}.${name}` : name);
}

/**
 * The shortcut of a block that changes shape, He et al.'s option A (no parameters): every
 * `stride`-th pixel (an average pool of window 1), then zero channels on both sides up to the
 * block's width — torch: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, before, after)).
 */
export class PaddedShortcut extends Module {
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly stride: number,
  ) {
    super();
  }

  describe(): string {
    return `PaddedShortcut(${this.inChannels}→${this.outChannels}, stride ${this.stride})`;
  }

  forward(g: Graph, x: Value): Value {
    const s: [number, number] = [this.stride, this.stride];
    const sub = this.stride === 1 ? x : g.apply('avg_pool2d', [x], { kernel: [1, 1], stride: s, padding: [0, 0], countIncludePad: true })[0];
    const before = Math.floor((this.outChannels - this.inChannels) / 2);
    return g.apply('pad_channels', [sub], { before, after: this.outChannels - this.inChannels - before })[0];
  }
}

/** relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), names as torch's BasicBlock. */
export class BasicBlock extends Module {
  readonly conv1: Conv3x3;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv3x3;
  readonly bn2: BatchNorm2d;
  readonly shortcut: PaddedShortcut | undefined;
  private readonly relu = ReLU();

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly stride: number,
  ) {
    super();
    this.conv1 = new Conv3x3(inChannels, outChannels, stride);
    this.bn1 = new BatchNorm2d(outChannels);
    this.conv2 = new Conv3x3(outChannels, outChannels, 1);
    this.bn2 = new BatchNorm2d(outChannels);
    this.shortcut = stride !== 1 || inChannels !== outChannels ? new PaddedShortcut(inChannels, outChannels, stride) : undefined;
  }

  describe(): string {
    return `BasicBlock(${this.inChannels}→${this.outChannels}, stride ${this.stride})`;
  }

  override children(): Module[] {
    return [this.conv1, this.bn1, this.conv2, this.bn2];
  }

  override register(store: ParameterStore, path = this.path): void {
    this.path = path;
    for (const [name, child] of [['conv1', this.conv1], ['bn1', this.bn1], ['conv2', this.conv2], ['bn2', this.bn2]] as const) registerAt(child, store, path, name);
  }

  forward(g: Graph, x: Value, ctx: ForwardContext): Value {
    const h = this.relu.apply(g, this.bn1.apply(g, this.conv1.apply(g, x, ctx), ctx), ctx);
    const y = this.bn2.apply(g, this.conv2.apply(g, h, ctx), ctx);
    const skip = this.shortcut ? this.shortcut.apply(g, x, ctx) : x;
    return this.relu.apply(g, g.apply('add', [y, skip], {})[0], ctx);
  }
}

/**
 * The CIFAR ResNet of He et al. (2016, section 4.2): a 3×3 convolution to `width` channels, three
 * stages of n basic blocks at widths w, 2w, 4w (the first block of stages 2 and 3 halves the image
 * with stride 2), global average pooling and a Linear to the classes; batch norm after every
 * convolution, identity shortcuts padded with zero channels where the width changes (option A).
 * Input [batch, channels, H, W] → logits [batch, classes]. Parameter names are torchvision's style
 * (`conv1.weight`, `bn1.running_mean`, `layer2.0.conv1.weight`, …, `fc.bias`), the same as
 * scripts/torch_models.py's ResNet, whose load_state_dict(strict=True) takes our checkpoints.
 */
export class ResNet extends Module {
  readonly conv1: Conv3x3;
  readonly bn1: BatchNorm2d;
  readonly layers: [Sequential, Sequential, Sequential];
  readonly fc: HeLinear;
  private readonly head = [new AdaptiveAvgPool2d(1), new Flatten()] as const;
  private readonly relu = ReLU();

  constructor(readonly config: Readonly<Required<ResNetConfig>>) {
    super();
    const { depth, width, classes, channels } = config;
    const n = (depth - 2) / 6;
    this.conv1 = new Conv3x3(channels, width, 1);
    this.bn1 = new BatchNorm2d(width);
    const stage = (from: number, to: number, stride: number) =>
      new Sequential(...Array.from({ length: n }, (_, i) => new BasicBlock(i === 0 ? from : to, to, i === 0 ? stride : 1)));
    this.layers = [stage(width, width, 1), stage(width, 2 * width, 2), stage(2 * width, 4 * width, 2)];
    this.fc = new HeLinear(4 * width, classes);
  }

  describe(): string {
    const c = this.config;
    return `ResNet(depth=${c.depth}, width=${c.width}, classes=${c.classes})`;
  }

  override children(): Module[] {
    return [this.conv1, this.bn1, ...this.layers, this.fc];
  }

  override register(store: ParameterStore, path = this.path): void {
    this.path = path;
    registerAt(this.conv1, store, path, 'conv1');
    registerAt(this.bn1, store, path, 'bn1');
    this.layers.forEach((layer, i) => registerAt(layer, store, path, `layer${i + 1}`));
    registerAt(this.fc, store, path, 'fc');
  }

  forward(g: Graph, x: Value, ctx: ForwardContext): Value {
    const { channels } = this.config;
    if (x.shape.length !== 4 || x.shape[1] !== channels) {
      throw new ShapeError(`${this.describe()} got input ${describeShape(x.shape)}: expected [batch, ${channels}, height, width]`);
    }
    let h = this.relu.apply(g, this.bn1.apply(g, this.conv1.apply(g, x, ctx), ctx), ctx);
    for (const layer of this.layers) h = layer.apply(g, h, ctx);
    for (const m of this.head) h = m.apply(g, h, ctx);
    return this.fc.apply(g, h, ctx);
  }
}

/** `config` with defaults (width 16, 10 classes, 3 channels), checked: a ShapeError names the bad field and the fix. */
export function resnetConfig(config: ResNetConfig): Required<ResNetConfig> {
  const full = { width: 16, classes: 10, channels: 3, ...config };
  const { depth } = full;
  if (!Number.isInteger(depth) || depth < 8 || (depth - 2) % 6 !== 0) {
    throw new ShapeError(`resnet: depth ${depth} must be 6n + 2 for n ≥ 1 basic blocks per stage, e.g. 20, 32 or 56`);
  }
  for (const key of ['width', 'classes', 'channels'] as const) {
    if (!Number.isInteger(full[key]) || full[key] < 1) throw new ShapeError(`resnet: ${key} ${full[key]} must be a positive integer`);
  }
  return full;
}

/**
 * The CIFAR ResNet-`depth` (20, 32, 56, … = 6n + 2) of He et al. at base width `width` (16),
 * for `channels`-channel images (3) and `classes` outputs (10). See `ResNet`.
 */
export function resnet(config: ResNetConfig): ResNet {
  return new ResNet(resnetConfig(config));
}
