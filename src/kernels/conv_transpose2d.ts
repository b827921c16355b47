import type { ActivationSpec } from '../../shaders/lib/activations.js';
import type { TuneCandidate } from '../gpu/autotune.js';
import { ShapeError } from '../gpu/errors.js';
import { backwardDataGemm, checkRank4, filterOf, forwardGemm, pair, type Conv2dAttrs, type Conv2dParams, type Size2 } from './conv2d.js';
import { convFilterProgram, convFilterTuning, type ConvFilter, type ConvFilterConfig } from './conv2d_backward_filter.js';
import { convGemmSpec, convGemmTuning, type ConvGemm, type ConvGemmConfig, type Pair } from './conv2d_gemm.js';
import { singleLaunch, type KernelProgram } from './kernel.js';

/**
 * conv_transpose2d is the adjoint of conv2d, so it reuses conv2d's kernels with the roles swapped:
 * its forward is conv2d's backward-data gather, its backward-data is conv2d's forward gather, and
 * its weight gradient is conv2d's with X and dY exchanged. Weight: PyTorch's [Cin, Cout, KH, KW].
 */
export interface ConvTranspose2dAttrs extends Conv2dAttrs {
  /** Extra rows/columns on the bottom/right of the output, to pick among the input sizes a strided conv maps to one size. */
  outputPadding?: Size2;
}

export interface ConvTranspose2dParams {
  input: readonly number[];
  weight: readonly number[];
  stride: Pair;
  padding: Pair;
  outputPadding: Pair;
  dilation: Pair;
  bias: boolean;
  activation: ActivationSpec;
}

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

export function convTranspose2dParams(
  input: readonly number[],
  weight: readonly number[],
  attrs: ConvTranspose2dAttrs & { bias?: boolean; activation?: ActivationSpec } = {},
): ConvTranspose2dParams {
  const op = 'conv_transpose2d';
  checkRank4(op, 'input', input, 'NCHW [N, C, H, W]');
  checkRank4(op, 'weight', weight, '[Cin, Cout, KH, KW]');
  const p: ConvTranspose2dParams = {
    input,
    weight,
    stride: pair(op, 'stride', attrs.stride, 1, 1),
    padding: pair(op, 'padding', attrs.padding, 0, 0),
    outputPadding: pair(op, 'outputPadding', attrs.outputPadding, 0, 0),
    dilation: pair(op, 'dilation', attrs.dilation, 1, 1),
    bias: attrs.bias ?? false,
    activation: attrs.activation ?? { kind: 'none' },
  };
  if (input[1] !== weight[0]) {
    throw new ShapeError(
      `${op}: input ${fmt(input)} has ${input[1]} channels but weight ${fmt(weight)} expects Cin = ${weight[0]}; transposed-conv weights are [Cin, Cout, KH, KW], fix the input channels or the weight`,
    );
  }
  for (const d of [0, 1]) {
    if (p.outputPadding[d] >= Math.max(p.stride[d], p.dilation[d])) {
      throw new ShapeError(
        `${op}: outputPadding ${fmt(p.outputPadding)} must be smaller than stride ${fmt(p.stride)} or dilation ${fmt(p.dilation)} on each axis; reduce outputPadding`,
      );
    }
  }
  convTranspose2dOutputShape(p);
  return p;
}

/** PyTorch's ConvTranspose2d: out = (in - 1)*stride - 2*pad + dil*(k - 1) + output_padding + 1 per axis. */
export function convTranspose2dOutputShape(
  p: Pick<ConvTranspose2dParams, 'input' | 'weight' | 'stride' | 'padding' | 'outputPadding' | 'dilation'>,
): [number, number, number, number] {
  const [n, , h, w] = p.input;
  const [, cout, kh, kw] = p.weight;
  const out = [h, w].map((size, d) => {
    const o = (size - 1) * p.stride[d] - 2 * p.padding[d] + p.dilation[d] * ([kh, kw][d] - 1) + p.outputPadding[d] + 1;
    if (o < 1) {
      throw new ShapeError(
        `conv_transpose2d: input ${fmt(p.input)} with weight ${fmt(p.weight)}, stride ${fmt(p.stride)} and padding ${fmt(p.padding)} gives output size ${o} along ${d ? 'W' : 'H'}; reduce the padding`,
      );
    }
    return o;
  });
  return [n, cout, out[0], out[1]];
}

/**
 * The conv2d whose input gradient this transposed conv is: its input has y's shape, its weight is
 * W read as conv2d's [Cout' = Cin, Cin' = Cout, KH, KW] (the same memory), its output has x's
 * shape. Each kernel below is one of that conv's, with the roles swapped.
 */
function adjointConv(p: ConvTranspose2dParams): [Conv2dParams, readonly number[]] {
  const conv = { input: convTranspose2dOutputShape(p), weight: p.weight, stride: p.stride, padding: p.padding, dilation: p.dilation, bias: false, activation: { kind: 'none' } as const };
  return [conv, p.input];
}

/** y[n, co, oy, ox] = sum over (ci, kh, kw) of x[n, ci, y, x] * W[ci, co, kh, kw]: the adjoint's backward-data gather, with bias and activation. */
function transposedForwardGemm(p: ConvTranspose2dParams): ConvGemm {
  return { ...backwardDataGemm(...adjointConv(p)), name: 'conv_transpose2d', bias: p.bias, activation: p.activation };
}

/** dX = the adjoint conv's forward gather over dY. */
function transposedBackwardDataGemm(p: ConvTranspose2dParams): ConvGemm {
  return { ...forwardGemm(...adjointConv(p)), name: 'conv_transpose2d_backward_data' };
}

/** dW[ci, co, kh, kw] = the adjoint conv's weight gradient, with dY as its input and X as its output gradient. */
function transposedFilter(p: ConvTranspose2dParams): ConvFilter {
  return { ...filterOf(...adjointConv(p)), name: 'conv_transpose2d_backward_filter' };
}

/** io: x, w, [bias], y. */
export function convTranspose2dProgram(p: ConvTranspose2dParams, config: ConvGemmConfig = 'direct_4x4'): KernelProgram {
  return singleLaunch(convGemmSpec(transposedForwardGemm(p), config));
}

/** io: dy, w, dx (dy is the gradient before any fused activation). */
export function convTranspose2dBackwardDataProgram(p: ConvTranspose2dParams, config: ConvGemmConfig = 'direct_4x4'): KernelProgram {
  return singleLaunch(convGemmSpec(transposedBackwardDataGemm(p), config));
}

/** io: x, dy, dw, then db when `p.bias` (db[co] = sum of dy over N, H, W). */
export function convTranspose2dBackwardFilterProgram(p: ConvTranspose2dParams, config: ConvFilterConfig = 'split_4x4_4k'): KernelProgram {
  const [, cout, oh, ow] = convTranspose2dOutputShape(p);
  const bias = p.bias ? { from: 1, channels: cout, plane: oh * ow, out: 3 } : undefined;
  return convFilterProgram(transposedFilter(p), { grad: 0, src: 1, dw: 2, bias }, config);
}

/** Tuning candidates (bind x, w, [bias], y) and their shape class. */
export function convTranspose2dTuning(p: ConvTranspose2dParams): { shapeClass: string; candidates: TuneCandidate[] } {
  return convGemmTuning(transposedForwardGemm(p));
}

/** As convTranspose2dTuning for backward-data (bind dy, w, dx). */
export function convTranspose2dBackwardDataTuning(p: ConvTranspose2dParams): { shapeClass: string; candidates: TuneCandidate[] } {
  return convGemmTuning(transposedBackwardDataGemm(p));
}

/** Tuning of backward-filter (bind x, dy, then buffers of `tuneBytes`: partials and dW). */
export function convTranspose2dBackwardFilterTuning(p: ConvTranspose2dParams): ReturnType<typeof convFilterTuning> {
  return convFilterTuning(transposedFilter(p));
}
