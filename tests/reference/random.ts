import { erf } from './activation.js';
/**
 * Reference Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11) in
 * 32-bit integer arithmetic only: the 64-bit product is built from 16-bit halves, so no float64
 * rounding or BigInt is involved. Checked against the Random123 known-answer vectors.
 */

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High 32 bits of the 64-bit product a·b of two u32. */
export function mulhi32(a: number, b: number): number {
  const al = a & 0xffff;
  const ah = a >>> 16;
  const bl = b & 0xffff;
  const bh = b >>> 16;
  const ll = Math.imul(al, bl) >>> 0;
  const lh = Math.imul(al, bh) >>> 0;
  const hl = Math.imul(ah, bl) >>> 0;
  const hh = Math.imul(ah, bh) >>> 0;
  // Carry out of the low word: the three terms that land in bits 16..47, summed below 2^18.
  const cross = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (hh + (lh >>> 16) + (hl >>> 16) + (cross >>> 16)) >>> 0;
}

/** Philox4x32 with `rounds` rounds (10 is the standard, crush-resistant choice). */
export function philox4x32(counter: readonly number[], key: readonly number[], rounds = 10): Uint32Array {
  let [c0, c1, c2, c3] = counter.map((v) => v >>> 0);
  let k0 = key[0] >>> 0;
  let k1 = key[1] >>> 0;
  for (let r = 0; r < rounds; r++) {
    if (r > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const hi0 = mulhi32(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi32(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
  }
  return Uint32Array.of(c0, c1, c2, c3);
}

/** The engine's mapping of (seed, stream, counter) onto Philox: key = 64-bit seed, counter = (counter, stream, 0, 0). */
export function philoxRandom(seed: number, stream: number, counter: number): Uint32Array {
  return philox4x32([counter, stream, 0, 0], [seed >>> 0, Math.floor(seed / 4294967296) >>> 0]);
}

/** Raw stream of n u32 words: element i is word i % 4 of philoxRandom(seed, stream, floor(i / 4)). */
export function randomBits(n: number, seed: number, stream = 0): Uint32Array {
  const out = new Uint32Array(n);
  for (let g = 0; g * 4 < n; g++) {
    const r = philoxRandom(seed, stream, g);
    for (let j = 0; j < 4 && g * 4 + j < n; j++) out[g * 4 + j] = r[j];
  }
  return out;
}

/** A u32 to a float in [0, 1): the top 24 bits times 2^-24, exact in f32. */
export function toUnit(bits: number): number {
  return (bits >>> 8) / 16777216;
}

/** A u32 to a float in (0, 1], for logarithms. */
export function toUnitOpen(bits: number): number {
  return ((bits >>> 8) + 1) / 16777216;
}

export function uniformRef(n: number, seed: number, low: number, high: number): Float64Array {
  return Float64Array.from(randomBits(n, seed), (b) => low + (high - low) * toUnit(b));
}

/** Box-Muller on word pairs (0, 1) and (2, 3): radius from the first word, angle in [-π, π) from the second. */
export function normalRef(n: number, seed: number, mean: number, std: number): Float64Array {
  const bits = randomBits(Math.ceil(n / 4) * 4, seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i += 2) {
    const base = i - (i % 2);
    const r = Math.sqrt(-2 * Math.log(toUnitOpen(bits[base])));
    const theta = Math.PI * (2 * toUnit(bits[base + 1]) - 1);
    out[i] = mean + std * r * Math.cos(theta);
    if (i + 1 < n) out[i + 1] = mean + std * r * Math.sin(theta);
  }
  return out;
}

/** Inverse of erf on (-1, 1) by bisection then Newton steps, in float64. */
export function erfinv(y: number): number {
  let lo = -6;
  let hi = 6;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (erf(mid) < y) lo = mid;
    else hi = mid;
  }
  let x = (lo + hi) / 2;
  for (let i = 0; i < 3; i++) x -= (erf(x) - y) / ((2 / Math.sqrt(Math.PI)) * Math.exp(-x * x));
  return x;
}

export const normalCdf = (z: number) => 0.5 * (1 + erf(z / Math.SQRT2));

/**
 * PyTorch's trunc_normal_ algorithm: uniform on [2Φ(α) − 1, 2Φ(β) − 1], then mean + std·√2·erfinv, clamped
 * to [a, b]; α, β are the bounds in standard units.
 */
export function truncatedNormalRef(n: number, seed: number, mean: number, std: number, a: number, b: number): Float64Array {
  const lo = 2 * normalCdf((a - mean) / std) - 1;
  const hi = 2 * normalCdf((b - mean) / std) - 1;
  return Float64Array.from(randomBits(n, seed), (bits) => {
    const e = lo + (hi - lo) * toUnit(bits);
    return Math.min(b, Math.max(a, mean + std * Math.SQRT2 * erfinv(e)));
  });
}

/** Which elements dropout keeps: the top 24 bits of word i of the step's stream compared with p·2^24. */
export function dropoutKeepRef(n: number, p: number, seed: number, step: number): Uint8Array {
  const threshold = Math.round(p * 16777216);
  return Uint8Array.from(randomBits(n, seed, step), (bits) => ((bits >>> 8) >= threshold ? 1 : 0));
}
