import type { Engine } from '../gpu/engine.js';
import {
  randomBitsKernel,
  randomNormalKernel,
  randomUniformKernel,
  truncatedNormalKernel,
} from '../kernels/random.js';
import type { KernelSpec } from '../kernels/kernel.js';
import { product } from '../kernels/geometry.js';
import { zeros, type DType, type Tensor } from './tensor.js';

/**
 * Every generator here is a pure function of (seed, element index): the same seed reproduces a
 * tensor exactly on any device and launch shape; different seeds give independent streams.
 */
function fill<D extends DType>(engine: Engine, shape: readonly number[], dtype: D, spec: (n: number) => KernelSpec): Tensor<D> {
  const s = spec(product(shape));
  const out = zeros(engine, shape, dtype);
  try {
    engine.dispatch(s, [out.buffer]);
  } catch (e) {
    out.dispose();
    throw e;
  }
  return out;
}

/** Raw Philox words (u32): element i is word i % 4 of Philox4x32-10(key = seed, counter = (i / 4, stream, 0, 0)). */
export function randomBits(engine: Engine, shape: readonly number[], options: { seed: number; stream?: number }): Tensor<'u32'> {
  return fill(engine, shape, 'u32', (n) => randomBitsKernel(n, options.seed, options.stream ?? 0));
}

/** Uniform on [low, high) (defaults [0, 1)), from the top 24 bits of each word. */
export function randomUniform(
  engine: Engine,
  shape: readonly number[],
  options: { low?: number; high?: number; seed: number },
): Tensor<'f32'> {
  return fill(engine, shape, 'f32', (n) => randomUniformKernel(n, options.low ?? 0, options.high ?? 1, options.seed));
}

/** Normal N(mean, std²) (defaults 0, 1) by Box-Muller. */
export function randomNormal(
  engine: Engine,
  shape: readonly number[],
  options: { mean?: number; std?: number; seed: number },
): Tensor<'f32'> {
  return fill(engine, shape, 'f32', (n) => randomNormalKernel(n, options.mean ?? 0, options.std ?? 1, options.seed));
}

/**
 * N(mean, std²) restricted to [a, b] (absolute bounds; defaults mean 0, std 1, a = −2, b = 2, as
 * PyTorch's nn.init.trunc_normal_), by the same inverse-CDF method.
 */
export function truncatedNormal(
  engine: Engine,
  shape: readonly number[],
  options: { mean?: number; std?: number; a?: number; b?: number; seed: number },
): Tensor<'f32'> {
  const { mean = 0, std = 1, a = -2, b = 2, seed } = options;
  return fill(engine, shape, 'f32', (n) => truncatedNormalKernel(n, mean, std, a, b, seed));
}

/**
 * PyTorch's nn.init.kaiming_uniform_(mode='fan_in', nonlinearity='leaky_relu'): U(−bound, bound) with
 * bound = gain·√(3 / fanIn), gain = √(2 / (1 + a²)). The default a = 0 is He init for ReLU
 * (bound = √(6 / fanIn)); PyTorch's Linear and Conv layers use a = √5, i.e. bound = 1/√fanIn.
 */
export function kaimingUniform(engine: Engine, shape: readonly number[], fanIn: number, seed: number, a = 0): Tensor<'f32'> {
  const bound = Math.sqrt(2 / (1 + a * a)) * Math.sqrt(3 / fanIn);
  return randomUniform(engine, shape, { low: -bound, high: bound, seed });
}

/**
 * PyTorch's nn.init.xavier_uniform_: U(−bound, bound) with bound = gain·√(6 / (fanIn + fanOut)).
 * For a Linear layer fanIn = in_features, fanOut = out_features; for a conv, each times kH·kW.
 */
export function xavierUniform(
  engine: Engine,
  shape: readonly number[],
  fanIn: number,
  fanOut: number,
  seed: number,
  gain = 1,
): Tensor<'f32'> {
  const bound = gain * Math.sqrt(6 / (fanIn + fanOut));
  return randomUniform(engine, shape, { low: -bound, high: bound, seed });
}
