import { randomShader, type RandomKind } from '../../shaders/random.js';
import { seedWords } from '../../shaders/lib/philox.js';
import { ShapeError } from '../gpu/errors.js';
import { ceilDiv, dispatch1D } from './geometry.js';
import { UniformWriter, type KernelSpec } from './kernel.js';

// Each invocation runs one Philox call (~20 emulated 32×32 multiplies) for 4 outputs; 64 lanes keep
// small fills spread over several workgroups.
const WG = 64;

/** Throws unless `seed` is an integer in [0, 2^53) (it becomes the 64-bit Philox key). */
export function checkSeed(op: string, seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new ShapeError(`${op}: seed ${seed} must be an integer in [0, 2^53); pass e.g. seed: 42`);
  }
}

/** Throws unless `stream` is a u32 (a dropout step, or a stream number). */
export function checkStream(op: string, stream: number): void {
  if (!Number.isInteger(stream) || stream < 0 || stream > 0xffffffff) {
    throw new ShapeError(`${op}: stream/step ${stream} must be an integer in [0, 2^32)`);
  }
}

interface FillParams {
  seed: number;
  stream: number;
  shift: number;
  scale: number;
  eLo?: number;
  eSpan?: number;
  clampLo?: number;
  clampHi?: number;
}

function randomUniforms(n: number, p: FillParams): ArrayBuffer {
  const [lo, hi] = seedWords(p.seed);
  return new UniformWriter()
    .u32(n, lo, hi, p.stream)
    .f32(p.shift, p.scale, p.eLo ?? 0, p.eSpan ?? 0, p.clampLo ?? 0, p.clampHi ?? 0)
    .finish();
}

function randomSpec(kind: RandomKind, n: number, p: FillParams): KernelSpec {
  return {
    name: `random_${kind}`,
    code: randomShader(kind),
    entryPoint: 'main',
    constants: { WG },
    bindings: ['write', 'uniform'],
    workgroups: dispatch1D(ceilDiv(n, 4), WG),
    uniforms: randomUniforms(n, p),
  };
}

/**
 * Uniforms of randomNormalKernel for another Philox stream: a compiled loop draws fresh noise each
 * step (stream = step) by rewriting only these, with the same pipeline and bind group.
 */
export function randomNormalUniforms(n: number, mean: number, std: number, seed: number, stream: number): ArrayBuffer {
  checkSeed('randomNormal', seed);
  checkStream('randomNormal', stream);
  return randomUniforms(n, { seed, stream, shift: mean, scale: std });
}

/** n raw u32 words: element i is word i % 4 of Philox(seed, stream, counter = i / 4). Binding: out (u32). */
export function randomBitsKernel(n: number, seed: number, stream = 0): KernelSpec {
  checkSeed('randomBits', seed);
  checkStream('randomBits', stream);
  return randomSpec('bits', n, { seed, stream, shift: 0, scale: 0 });
}

/** n floats uniform on [low, high): low + (high − low)·u, u = top 24 bits · 2^-24. Binding: out. */
export function randomUniformKernel(n: number, low: number, high: number, seed: number): KernelSpec {
  checkSeed('randomUniform', seed);
  if (!(low <= high)) throw new ShapeError(`randomUniform: low ${low} must not exceed high ${high}`);
  return randomSpec('uniform', n, { seed, stream: 0, shift: low, scale: high - low });
}

/** n floats from N(mean, std²) by Box-Muller. Binding: out. */
export function randomNormalKernel(n: number, mean: number, std: number, seed: number): KernelSpec {
  checkSeed('randomNormal', seed);
  if (!(std >= 0)) throw new ShapeError(`randomNormal: std ${std} must be non-negative`);
  return randomSpec('normal', n, { seed, stream: 0, shift: mean, scale: std });
}

/**
 * n floats from N(mean, std²) truncated to [a, b] (absolute bounds, as PyTorch's trunc_normal_),
 * by its inverse-CDF method. Binding: out.
 */
export function truncatedNormalKernel(n: number, mean: number, std: number, a: number, b: number, seed: number): KernelSpec {
  checkSeed('truncatedNormal', seed);
  if (!(std > 0)) throw new ShapeError(`truncatedNormal: std ${std} must be positive`);
  if (!(a < b)) throw new ShapeError(`truncatedNormal: bounds [${a}, ${b}] must satisfy a < b`);
  const eLo = erf((a - mean) / std / Math.SQRT2);
  const eHi = erf((b - mean) / std / Math.SQRT2);
  return randomSpec('truncated_normal', n, { seed, stream: 0, shift: mean, scale: std, eLo, eSpan: eHi - eLo, clampLo: a, clampHi: b });
}

/**
 * erf in float64 (Taylor series below 3, continued fraction above), ~1e-13 accurate: maps truncation
 * bounds to the erf scale on the CPU, so the kernel needs only erfinv.
 */
function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    let term = ax;
    let sum = ax;
    for (let k = 1; k < 200 && Math.abs(term) > 1e-17 * sum; k++) {
      term *= (-ax * ax) / k;
      sum += term / (2 * k + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  let f = ax;
  for (let k = 80; k >= 1; k--) f = ax + k / 2 / f;
  return Math.sign(x) * (1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f);
}
