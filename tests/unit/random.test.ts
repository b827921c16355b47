import { describe, expect, it } from 'vitest';
import {
  kaimingUniform,
  randomBits,
  randomNormal,
  randomUniform,
  truncatedNormal,
  xavierUniform,
} from '../../src/eager/random.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { expectClose } from '../helpers/compare.js';
import { useEngine } from '../helpers/engine.js';
import { erf } from '../reference/activation.js';
import {
  normalCdf,
  normalRef,
  philox4x32,
  randomBits as bitsRef,
  truncatedNormalRef,
  uniformRef,
} from '../reference/random.js';

const engine = useEngine();

function meanVar(v: ArrayLike<number>): [number, number] {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i];
  const mean = s / v.length;
  let q = 0;
  for (let i = 0; i < v.length; i++) q += (v[i] - mean) ** 2;
  return [mean, q / v.length];
}

describe('Philox4x32-10', () => {
  // Known-answer vectors of Random123 (kat_vectors, philox4x32 with 10 rounds).
  const kat: [number[], number[], number[]][] = [
    [[0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]],
    [[0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff], [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]],
    [[0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0], [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]],
  ];
  it('reference matches the Random123 known answers', () => {
    for (const [ctr, key, want] of kat) expect([...philox4x32(ctr, key)]).toEqual(want);
  });

  it('GPU words equal the reference bit for bit', async () => {
    // seed 0 / stream 0 / counter 0 is the first known-answer vector.
    const first = randomBits(engine(), [4], { seed: 0 });
    expect([...(await first.read())]).toEqual(kat[0][2]);
    first.dispose();
    const cases = [
      { n: 1, seed: 1, stream: 0 },
      { n: 7, seed: 123456789, stream: 3 },
      { n: 257, seed: 2 ** 40 + 17, stream: 0xffffffff },
      { n: 4099, seed: 0xffffffff, stream: 1 },
    ];
    for (const { n, seed, stream } of cases) {
      const t = randomBits(engine(), [n], { seed, stream });
      expect([...(await t.read())], `n=${n} seed=${seed}`).toEqual([...bitsRef(n, seed, stream)]);
      t.dispose();
    }
  });
});

describe('random initialisers', () => {
  it('uniform matches the reference, stays in [low, high) and passes chi-square over 16 bins', async () => {
    for (const n of [1, 3, 33, 257]) {
      const t = randomUniform(engine(), [n], { low: -2, high: 3, seed: 7 });
      // u is exact; only low + (high − low)·u rounds in f32.
      expectClose(await t.read(), uniformRef(n, 7, -2, 3), { atol: 1e-6, rtol: 0 }, `uniform n=${n}`);
      t.dispose();
    }
    const n = 65536;
    const t = randomUniform(engine(), [256, 256], { seed: 99 });
    const v = await t.read();
    t.dispose();
    expect(v.every((x) => x >= 0 && x < 1)).toBe(true);
    const bins = new Array(16).fill(0);
    for (const x of v) bins[Math.floor(x * 16)]++;
    const expected = n / 16;
    const chi2 = bins.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
    // 15 degrees of freedom: mean 15, P(chi2 > 50) ≈ 1e-5.
    expect(chi2).toBeLessThan(50);
  });

  it('the same seed reproduces exactly and different seeds differ', async () => {
    const a = randomNormal(engine(), [3, 7], { seed: 5 });
    const b = randomNormal(engine(), [3, 7], { seed: 5 });
    const c = randomNormal(engine(), [3, 7], { seed: 6 });
    const [va, vb, vc] = [await a.read(), await b.read(), await c.read()];
    expect([...va]).toEqual([...vb]);
    expect(va.filter((x, i) => x === vc[i]).length).toBe(0);
    for (const t of [a, b, c]) t.dispose();
  });

  it('normal matches Box-Muller in float64 and has the asked mean and variance', async () => {
    for (const n of [1, 7, 257]) {
      const t = randomNormal(engine(), [n], { mean: 1, std: 2, seed: 11 });
      // WGSL allows cos/sin 2^-11 absolute error on [-π, π], and log near 1 an absolute error that
      // sqrt(−2 log u) magnifies when the radius is near 0 (measured worst: 7e-4 on SwiftShader).
      expectClose(await t.read(), normalRef(n, 11, 1, 2), { atol: 2e-3, rtol: 1e-4 }, `normal n=${n}`);
      t.dispose();
    }
    const t = randomNormal(engine(), [65536], { mean: -3, std: 0.5, seed: 3 });
    const [mean, variance] = meanVar(await t.read());
    t.dispose();
    // Standard errors: 0.5/256 ≈ 0.002 for the mean, 0.25·√(2/65536) ≈ 0.0014 for the variance.
    expect(Math.abs(mean + 3)).toBeLessThan(0.01);
    expect(Math.abs(variance - 0.25)).toBeLessThan(0.008);
  });

  it('truncated normal matches the inverse-CDF reference, respects the bounds and the moments', async () => {
    for (const n of [1, 33, 127]) {
      // Giles' erfinv is near f32 rounding inside ±2.3σ (measured worst 1e-6 here); far tails lose more to e's rounding.
      const t = truncatedNormal(engine(), [n], { mean: 0.5, std: 2, a: -1, b: 4, seed: 21 });
      expectClose(await t.read(), truncatedNormalRef(n, 21, 0.5, 2, -1, 4), { atol: 1e-5, rtol: 1e-5 }, `trunc n=${n}`);
      t.dispose();
    }
    const t = truncatedNormal(engine(), [65536], { seed: 4 });
    const v = await t.read();
    t.dispose();
    expect(v.every((x) => x >= -2 && x <= 2)).toBe(true);
    // Moments of N(0, 1) truncated to [-2, 2]: mean 0, variance 1 − 2·2·φ(2)/(Φ(2) − Φ(−2)).
    const phi2 = Math.exp(-2) / Math.sqrt(2 * Math.PI);
    const z = normalCdf(2) - normalCdf(-2);
    const [mean, variance] = meanVar(v);
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Math.abs(variance - (1 - (4 * phi2) / z))).toBeLessThan(0.01);
    expect(z).toBeCloseTo(erf(Math.SQRT2), 12);
  });

  it('kaiming and xavier are uniform with PyTorch bounds', async () => {
    const k = kaimingUniform(engine(), [7, 33], 33, 8);
    expectClose(await k.read(), uniformRef(231, 8, -Math.sqrt(6 / 33), Math.sqrt(6 / 33)), { atol: 1e-6, rtol: 0 }, 'kaiming');
    const k5 = kaimingUniform(engine(), [5, 3], 3, 8, Math.sqrt(5));
    expectClose(await k5.read(), uniformRef(15, 8, -1 / Math.sqrt(3), 1 / Math.sqrt(3)), { atol: 1e-6, rtol: 0 }, 'kaiming a=√5');
    const x = xavierUniform(engine(), [4, 9], 9, 4, 2, 2);
    const bound = 2 * Math.sqrt(6 / 13);
    expectClose(await x.read(), uniformRef(36, 2, -bound, bound), { atol: 1e-6, rtol: 0 }, 'xavier');
    for (const t of [k, k5, x]) t.dispose();
  });

  it('rejects bad seeds and attributes before touching the GPU', () => {
    expect(() => randomUniform(engine(), [3], { seed: -1 })).toThrow(ShapeError);
    expect(() => randomUniform(engine(), [3], { seed: 1.5 })).toThrow(/randomUniform: seed 1.5 must be an integer/);
    expect(() => randomUniform(engine(), [3], { low: 2, high: 1, seed: 1 })).toThrow(/low 2 must not exceed high 1/);
    expect(() => truncatedNormal(engine(), [3], { a: 1, b: 0, seed: 1 })).toThrow(/bounds \[1, 0\]/);
    expect(() => randomBits(engine(), [3], { seed: 1, stream: 2 ** 32 })).toThrow(ShapeError);
  });

  it('leaves no buffers alive', () => {
    expect(engine().stats.liveBuffers).toBe(0);
  });
});
