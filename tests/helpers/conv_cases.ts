import { expect } from 'vitest';
import { conv2d } from '../../src/eager/conv2d.js';
import { tensor, type Tensor } from '../../src/eager/tensor.js';
import type { Engine } from '../../src/gpu/engine.js';
import type { ConvGemmConfig } from '../../src/kernels/conv2d.js';
import { activateAll } from '../reference/activation.js';
import { conv2dRef } from '../reference/conv2d.js';
import { convTranspose2dRef } from '../reference/conv_transpose2d.js';
import { expectClose } from './compare.js';
import { uniform } from './random.js';

/** Shapes and attributes of the convolution tests. */
export type P2 = [number, number];

export interface ConvCase {
  x: number[];
  /** conv2d: [Cout, Cin, KH, KW]; conv_transpose2d: [Cin, Cout, KH, KW]. */
  w: number[];
  stride?: P2;
  padding?: P2;
  dilation?: P2;
}

export interface ConvTransposeCase extends ConvCase {
  outputPadding?: P2;
}

export const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

export const convLabel = (c: ConvCase) => `x [${c.x}] w [${c.w}] s ${c.stride ?? 1} p ${c.padding ?? 0} d ${c.dilation ?? 1}`;
export const convAttrs = (c: ConvCase) => ({ stride: c.stride, padding: c.padding, dilation: c.dilation });

export const convTransposeLabel = (c: ConvTransposeCase) =>
  `x [${c.x}] w [${c.w}] s ${c.stride ?? 1} p ${c.padding ?? 0} op ${c.outputPadding ?? 0} d ${c.dilation ?? 1}`;
export const convTransposeAttrs = (c: ConvTransposeCase) => ({ stride: c.stride, padding: c.padding, outputPadding: c.outputPadding, dilation: c.dilation });

/** The float64 transposed convolution of a case. */
export const convTransposeRef = (c: ConvTransposeCase, x: ArrayLike<number>, w: ArrayLike<number>, b?: ArrayLike<number>) =>
  convTranspose2dRef(x, c.x, w, c.w, convTransposeAttrs(c), b);
export const convTransposeOutShape = (c: ConvTransposeCase) => convTransposeRef(c, new Float64Array(size(c.x)), new Float64Array(size(c.w))).shape;

/** Reads every tensor (one after another: each read submits the pending work) and disposes them. */
export async function readAll(...ts: Tensor[]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const t of ts) out.push((await t.read()) as Float32Array);
  for (const t of ts) t.dispose();
  return out;
}

/**
 * conv2d of a case with a bias and `activation`, on the forced `config`, against the float64
 * reference within `tolerance`.
 */
export async function expectConv2dForward(
  e: Engine,
  c: ConvCase,
  activation: 'none' | 'relu' | 'sigmoid',
  config: ConvGemmConfig,
  tolerance: { atol: number; rtol: number },
  what: string,
): Promise<void> {
  const x = uniform(size(c.x), 1);
  const w = uniform(size(c.w), 2);
  const b = uniform(c.w[0], 3);
  const xt = tensor(e, x, c.x);
  const wt = tensor(e, w, c.w);
  const bt = tensor(e, b, [c.w[0]]);
  const y = conv2d(xt, wt, { ...convAttrs(c), bias: bt, activation, config });
  const ref = conv2dRef(x, c.x, w, c.w, convAttrs(c), b);
  expect(y.shape).toEqual(ref.shape);
  const [got] = await readAll(y, xt, wt, bt);
  expectClose(got, activateAll(activation, ref.data), tolerance, what);
}
