import { pool2dShader } from '../../shaders/pool2d.js';
import { ShapeError } from '../gpu/errors.js';
import { dispatch1D } from './geometry.js';
import { UniformWriter, type KernelProgram, type KernelSpec } from './kernel.js';
import { broadcastAxisSpec, reduceAxisProgram } from './reduce.js';

const WG = 256;

type Pair = number | readonly [number, number];

interface WindowOptions {
  kernel: Pair;
  /** Default: the kernel size (PyTorch's default). */
  stride?: Pair;
  /** Implicit padding on both sides; at most half the (dilated) window, as PyTorch requires. Default 0. */
  padding?: Pair;
}

/** Window, stride, padding and dilation of the eager `maxPool2d`. */
export interface MaxPool2dOptions extends WindowOptions {
  /** Spacing of the window's taps. Default 1. */
  dilation?: Pair;
}

/** Window, stride, padding and divisor of the eager `avgPool2d`. */
export interface AvgPool2dOptions extends WindowOptions {
  /**
   * Divide by the whole window, padding included (true, PyTorch's default), or by the input
   * elements it covers (false).
   */
  countIncludePad?: boolean;
}

/** Everything a pooling kernel needs, for an NCHW input [n, c, h, w] and output [n, c, oh, ow]. */
export interface Pool2dGeometry {
  n: number;
  c: number;
  h: number;
  w: number;
  oh: number;
  ow: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
  dh: number;
  dw: number;
  includePad: boolean;
}

function pair(op: string, name: string, v: Pair, min: number): [number, number] {
  const p: [number, number] = typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if (!p.every((x) => Number.isInteger(x) && x >= min)) {
    throw new ShapeError(`${op}: ${name} ${JSON.stringify(v)} must be integers >= ${min}`);
  }
  return p;
}

/**
 * Checks input [N, C, H, W] and the attributes, and computes the output size as PyTorch does
 * (floor mode): out = floor((in + 2 pad - dilation (k - 1) - 1) / stride) + 1.
 */
export function pool2dGeometry(op: string, shape: readonly number[], options: MaxPool2dOptions & AvgPool2dOptions): Pool2dGeometry {
  if (shape.length !== 4) {
    throw new ShapeError(`${op}: input [${shape.join(', ')}] must be 4-D [N, C, H, W]; add the missing batch or channel dimension`);
  }
  const [n, c, h, w] = shape;
  const [kh, kw] = pair(op, 'kernel', options.kernel, 1);
  const [sh, sw] = pair(op, 'stride', options.stride ?? options.kernel, 1);
  const [ph, pw] = pair(op, 'padding', options.padding ?? 0, 0);
  const [dh, dw] = pair(op, 'dilation', options.dilation ?? 1, 1);
  const ekh = dh * (kh - 1) + 1;
  const ekw = dw * (kw - 1) + 1;
  if (2 * ph > ekh || 2 * pw > ekw) {
    throw new ShapeError(`${op}: padding [${ph}, ${pw}] exceeds half the window [${ekh}, ${ekw}]; use padding <= ${Math.floor(ekh / 2)}, ${Math.floor(ekw / 2)}`);
  }
  const oh = Math.floor((h + 2 * ph - ekh) / sh) + 1;
  const ow = Math.floor((w + 2 * pw - ekw) / sw) + 1;
  if (h + 2 * ph < ekh || w + 2 * pw < ekw) {
    throw new ShapeError(
      `${op}: window [${ekh}, ${ekw}] is larger than the padded input [${h + 2 * ph}, ${w + 2 * pw}] of input [${shape.join(', ')}]; use a smaller kernel or more padding`,
    );
  }
  // With dilation a window can fall entirely between input rows; PyTorch would emit -inf there.
  const covers = (out: number, stride: number, pad: number, k: number, d: number, size: number) => {
    for (let o = 0; o < out; o++) {
      let hit = false;
      for (let t = 0; t < k && !hit; t++) hit = o * stride - pad + t * d >= 0 && o * stride - pad + t * d < size;
      if (!hit) return false;
    }
    return true;
  };
  if (!covers(oh, sh, ph, kh, dh, h) || !covers(ow, sw, pw, kw, dw, w)) {
    throw new ShapeError(`${op}: with dilation [${dh}, ${dw}] and padding [${ph}, ${pw}] some windows of input [${shape.join(', ')}] cover only padding; reduce the padding`);
  }
  return { n, c, h, w, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw, includePad: options.countIncludePad ?? true };
}

function uniforms(g: Pool2dGeometry, count: number): ArrayBuffer {
  return new UniformWriter()
    .u32(count, g.h, g.w, g.oh, g.ow, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, g.includePad ? 1 : 0)
    .finish();
}

function spec(kind: 'max' | 'avg', direction: 'forward' | 'backward', g: Pool2dGeometry): KernelSpec {
  const planes = g.n * g.c;
  // Forward: one invocation per output; backward (a gather): one per input element.
  const count = direction === 'forward' ? planes * g.oh * g.ow : planes * g.h * g.w;
  const reads = kind === 'max' && direction === 'backward' ? 2 : 1;
  const writes = kind === 'max' && direction === 'forward' ? 2 : 1;
  return {
    name: `${kind}_pool2d${direction === 'backward' ? '_backward' : ''}`,
    code: pool2dShader(kind, direction, g.dh > 1 || g.dw > 1),
    entryPoint: 'main',
    constants: { WG },
    bindings: [...Array<'read'>(reads).fill('read'), ...Array<'write'>(writes).fill('write'), 'uniform'],
    workgroups: dispatch1D(count, WG),
    uniforms: uniforms(g, count),
  };
}

/**
 * Bindings: x [N, C, H, W], y [N, C, OH, OW], argmax [N, C, OH, OW] (u32, index y*W + x within the
 * plane). A NaN wins a window only when it is the window's first input element (PyTorch always propagates it).
 */
export const maxPool2dForward = (g: Pool2dGeometry) => spec('max', 'forward', g);
/** Bindings: dy [N, C, OH, OW], argmax (u32), dx [N, C, H, W]. */
export const maxPool2dBackward = (g: Pool2dGeometry) => spec('max', 'backward', g);
/** Bindings: x, y. */
export const avgPool2dForward = (g: Pool2dGeometry) => spec('avg', 'forward', g);
/** Bindings: dy, dx. */
export const avgPool2dBackward = (g: Pool2dGeometry) => spec('avg', 'backward', g);

function checkNCHW(op: string, shape: readonly number[]): [number, number, number, number] {
  if (shape.length !== 4) throw new ShapeError(`${op}: input [${shape.join(', ')}] must be 4-D [N, C, H, W]`);
  return [shape[0], shape[1], shape[2], shape[3]];
}

/** Mean over H and W: [N, C, H, W] -> [N, C], by the row reduction. io: x, y. */
export function globalAvgPoolProgram(shape: readonly number[]): KernelProgram {
  const [n, c, h, w] = checkNCHW('globalAvgPool', shape);
  return { ...reduceAxisProgram('mean', [n * c, h * w], 1).program, name: 'global_avg_pool' };
}

/** dx[n][c][y][x] = dy[n][c] / (H W). Bindings: dy [N, C], dx [N, C, H, W]. */
export function globalAvgPoolBackward(shape: readonly number[]): KernelSpec {
  const [n, c, h, w] = checkNCHW('globalAvgPool backward', shape);
  return { ...broadcastAxisSpec(n * c, h * w, 1, 1 / (h * w)), name: 'global_avg_pool_backward' };
}
