/**
 * Philox4x32-10, a counter-based generator (Salmon et al., SC'11): the output is a pure function of
 * (key, counter), so any invocation can draw its numbers without state, and a backward pass can
 * regenerate a forward pass's randomness (dropout masks) instead of storing it.
 *
 * The engine's mapping: key = the 64-bit seed as (low word, high word); counter = (counter, stream, 0, 0).
 * Each call yields 4 u32 words, so kernels give each invocation 4 consecutive elements.
 *
 * WGSL has no 64-bit integers or mul-high, so the high half of the 32×32 product is assembled from
 * 16-bit halves; the result equals the Random123 reference bit for bit (tests/unit/random.test.ts).
 */
export const philoxWGSL = /* wgsl */ `
fn philox_mulhi(a: u32, b: u32) -> u32 {
  let al = a & 0xffffu;
  let ah = a >> 16u;
  let bl = b & 0xffffu;
  let bh = b >> 16u;
  let ll = al * bl;
  let lh = al * bh;
  let hl = ah * bl;
  // Carry out of the low word: the terms landing in bits 16..47, whose sum stays below 2^18.
  let cross = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  return ah * bh + (lh >> 16u) + (hl >> 16u) + (cross >> 16u);
}

fn philox_round(c: vec4u, k: vec2u) -> vec4u {
  let hi0 = philox_mulhi(0xd2511f53u, c.x);
  let hi1 = philox_mulhi(0xcd9e8d57u, c.z);
  return vec4u(hi1 ^ c.y ^ k.x, 0xcd9e8d57u * c.z, hi0 ^ c.w ^ k.y, 0xd2511f53u * c.x);
}

fn philox4x32(counter: vec4u, key: vec2u) -> vec4u {
  // Ten rounds, the key bumped by the Weyl constants (golden ratio, sqrt(3) - 1) between them.
  let bump = vec2u(0x9e3779b9u, 0xbb67ae85u);
  var c = philox_round(counter, key);
  var k = key;
  k += bump; c = philox_round(c, k);
  k += bump; c = philox_round(c, k);
  k += bump; c = philox_round(c, k);
  k += bump; c = philox_round(c, k);
  k += bump; c = philox_round(c, k);
  k += bump; c = philox_round(c, k);
  k += bump; c = philox_round(c, k);
  k += bump; c = philox_round(c, k);
  k += bump; c = philox_round(c, k);
  return c;
}

fn philox_random(seed: vec2u, stream: u32, counter: u32) -> vec4u {
  return philox4x32(vec4u(counter, stream, 0u, 0u), seed);
}

// The top 24 bits scaled by 2^-24: every value is exact in f32 and 1.0 is never reached
// (a 32-bit conversion would round values near 1 up to 1.0).
fn u32_to_unit(bits: u32) -> f32 {
  return f32(bits >> 8u) * 5.9604644775390625e-8;
}

// In (0, 1]: safe for log().
fn u32_to_unit_open(bits: u32) -> f32 {
  return f32((bits >> 8u) + 1u) * 5.9604644775390625e-8;
}

// Box-Muller: two words to two independent standard normals. The angle is kept in [-pi, pi),
// the range where WGSL bounds the error of cos and sin.
fn box_muller(b0: u32, b1: u32) -> vec2f {
  let r = sqrt(-2.0 * log(u32_to_unit_open(b0)));
  let theta = 3.14159265358979 * (2.0 * u32_to_unit(b1) - 1.0);
  return r * vec2f(cos(theta), sin(theta));
}
`;

/** Splits a seed (a non-negative integer below 2^53) into the two key words Philox takes. */
export function seedWords(seed: number): [number, number] {
  return [seed >>> 0, Math.floor(seed / 4294967296) >>> 0];
}
