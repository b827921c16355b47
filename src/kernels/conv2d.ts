import type { ActivationSpec } from '../../shaders/lib/activations.js';
import type { TuneCandidate } from '../gpu/autotune.js';
import { ShapeError } from '../gpu/errors.js';
import { convFilterProgram, convFilterTuning, type ConvFilter, type ConvFilterConfig } from './conv2d_backward_filter.js';
import { convGemmSpec, convGemmTuning, type ConvGemm, type ConvGemmConfig, type Pair } from './conv2d_gemm.js';
import { singleLaunch, type KernelProgram } from './kernel.js';

export type { ConvGemmConfig, ConvFilterConfig, Pair };
export { CONV_GEMM_CONFIGS } from './conv2d_gemm.js';
export { CONV_FILTER_CONFIGS } from './conv2d_backward_filter.js';

/** A size per spatial axis, (h, w); one number means both. */
export type Size2 = number | readonly [number, number];

export interface Conv2dAttrs {
  stride?: Size2;
  padding?: Size2;
  dilation?: Size2;
}

/** Everything a conv2d kernel needs; tensors are NCHW, the weight PyTorch's [Cout, Cin, KH, KW]. */
export interface Conv2dParams {
  input: readonly number[];
  weight: readonly number[];
  stride: Pair;
  padding: Pair;
  dilation: Pair;
  bias: boolean;
  activation: ActivationSpec;
}

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

export function pair(op: string, name: string, v: Size2 | undefined, fallback: number, min: number): Pair {
  const p: Pair = v === undefined ? [fallback, fallback] : typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if (!p.every((x) => Number.isInteger(x) && x >= min)) {
    throw new ShapeError(`${op}: ${name} ${JSON.stringify(v)} must be ${min === 0 ? 'non-negative' : 'positive'} integers (one number or [h, w])`);
  }
  return p;
}

export function checkRank4(op: string, what: string, shape: readonly number[], layout: string): void {
  if (shape.length !== 4 || !shape.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new ShapeError(`${op}: ${what} ${fmt(shape)} must be 4-D ${layout} with positive sizes`);
  }
}

/** Normalises attributes and checks shapes; throws ShapeError naming the op, the shapes and the fix. */
export function conv2dParams(
  input: readonly number[],
  weight: readonly number[],
  attrs: Conv2dAttrs & { bias?: boolean; activation?: ActivationSpec } = {},
): Conv2dParams {
  const op = 'conv2d';
  checkRank4(op, 'input', input, 'NCHW [N, C, H, W]');
  checkRank4(op, 'weight', weight, '[Cout, Cin, KH, KW]');
  const params: Conv2dParams = {
    input,
    weight,
    stride: pair(op, 'stride', attrs.stride, 1, 1),
    padding: pair(op, 'padding', attrs.padding, 0, 0),
    dilation: pair(op, 'dilation', attrs.dilation, 1, 1),
    bias: attrs.bias ?? false,
    activation: attrs.activation ?? { kind: 'none' },
  };
  if (input[1] !== weight[1]) {
    throw new ShapeError(
      `${op}: input ${fmt(input)} has ${input[1]} channels but weight ${fmt(weight)} expects Cin = ${weight[1]}; weights are [Cout, Cin, KH, KW], fix the input channels or the weight`,
    );
  }
  conv2dOutputShape(params);
  return params;
}

/** PyTorch's Conv2d: out = floor((in + 2*pad - dil*(k - 1) - 1) / stride) + 1 per axis. */
export function conv2dOutputShape(p: Pick<Conv2dParams, 'input' | 'weight' | 'stride' | 'padding' | 'dilation'>): [number, number, number, number] {
  const [n, , h, w] = p.input;
  const [cout, , kh, kw] = p.weight;
  const out = [h, w].map((size, d) => {
    const span = p.dilation[d] * ([kh, kw][d] - 1) + 1;
    const padded = size + 2 * p.padding[d];
    if (span > padded) {
      throw new ShapeError(
        `conv2d: input ${fmt(p.input)} padded to ${padded} along ${d ? 'W' : 'H'} is smaller than the dilated kernel extent ${span} of weight ${fmt(p.weight)}; add padding or use a smaller kernel/dilation`,
      );
    }
    return Math.floor((padded - span) / p.stride[d]) + 1;
  });
  return [n, cout, out[0], out[1]];
}

// `out` overrides the output shape where a caller knows it (conv_transpose2d's adjoint conv, whose
// output padding makes its input one the strided conv maps to another size).

/** conv2d forward: y = activation(conv(x, w) + bias) as an implicit GEMM over (Cin, KH, KW). */
export function forwardGemm(p: Conv2dParams, out: readonly number[] = conv2dOutputShape(p)): ConvGemm {
  const [n, cin, h, w] = p.input;
  const [cout, , kh, kw] = p.weight;
  const [, , oh, ow] = out;
  return {
    name: 'conv2d',
    gather: 'forward',
    batch: n,
    m: cout,
    c: cin,
    src: [h, w],
    dst: [oh, ow],
    kernel: [kh, kw],
    stride: p.stride,
    padding: p.padding,
    dilation: p.dilation,
    wStrideOut: cin * kh * kw,
    wStrideRed: kh * kw,
    bias: p.bias,
    activation: p.activation,
  };
}

/**
 * dX[n, ci, y, x] = sum over (co, kh, kw) of dY[n, co, oy, ox] * W[co, ci, kh, kw], where
 * y = oy*stride - pad + kh*dil: a transposed gather over dY, reading W with Cin as the output row.
 */
export function backwardDataGemm(p: Conv2dParams, out: readonly number[] = conv2dOutputShape(p)): ConvGemm {
  const [n, cin, h, w] = p.input;
  const [cout, , kh, kw] = p.weight;
  const [, , oh, ow] = out;
  return {
    name: 'conv2d_backward_data',
    gather: 'transposed',
    batch: n,
    m: cin,
    c: cout,
    src: [oh, ow],
    dst: [h, w],
    kernel: [kh, kw],
    stride: p.stride,
    padding: p.padding,
    dilation: p.dilation,
    wStrideOut: kh * kw,
    wStrideRed: cin * kh * kw,
    bias: false,
    activation: { kind: 'none' },
  };
}

export function filterOf(p: Conv2dParams, out: readonly number[] = conv2dOutputShape(p)): ConvFilter {
  const [n, cin, h, w] = p.input;
  const [cout, , kh, kw] = p.weight;
  const [, , oh, ow] = out;
  return {
    name: 'conv2d_backward_filter',
    batch: n,
    m: cout,
    c: cin,
    src: [h, w],
    grad: [oh, ow],
    kernel: [kh, kw],
    stride: p.stride,
    padding: p.padding,
    dilation: p.dilation,
  };
}

/** io: x, w, [bias], y. */
export function conv2dProgram(p: Conv2dParams, config: ConvGemmConfig = 'direct_4x4'): KernelProgram {
  return singleLaunch(convGemmSpec(forwardGemm(p), config));
}

/** io: dy, w, dx (the pre-activation gradient dy; `p.bias`/`p.activation` are ignored). */
export function conv2dBackwardDataProgram(p: Conv2dParams, config: ConvGemmConfig = 'direct_4x4'): KernelProgram {
  return singleLaunch(convGemmSpec(backwardDataGemm(p), config));
}

/** io: x, dy, dw, then db when `p.bias` (db[co] = sum of dy over N, H, W). */
export function conv2dBackwardFilterProgram(p: Conv2dParams, config: ConvFilterConfig = 'split_4x4_4k'): KernelProgram {
  const [, cout, oh, ow] = conv2dOutputShape(p);
  const bias = p.bias ? { from: 1, channels: cout, plane: oh * ow, out: 3 } : undefined;
  return convFilterProgram(filterOf(p), { src: 0, grad: 1, dw: 2, bias }, config);
}

/** Tuning candidates (bind x, w, [bias], y) and the shape class to remember the winner under. */
export function conv2dTuning(p: Conv2dParams): { shapeClass: string; candidates: TuneCandidate[] } {
  return convGemmTuning(forwardGemm(p));
}

/** As conv2dTuning for backward-data (bind dy, w, dx). */
export function conv2dBackwardDataTuning(p: Conv2dParams): { shapeClass: string; candidates: TuneCandidate[] } {
  return convGemmTuning(backwardDataGemm(p));
}

/** Tuning of backward-filter (bind dy, x, then buffers of `tuneBytes`: partials and dW). */
export function conv2dBackwardFilterTuning(p: Conv2dParams): ReturnType<typeof convFilterTuning> {
  return convFilterTuning(filterOf(p));
}
