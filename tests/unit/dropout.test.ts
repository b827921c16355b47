import { describe, expect, it } from 'vitest';
import { dropout, dropoutGrad } from '../../src/eager/dropout.js';
import { dropoutBackward, dropoutForward, setDropoutStep } from '../../src/kernels/dropout.js';
import { tensor } from '../../src/eager/tensor.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { dot, expectClose, numericGradient } from '../helpers/compare.js';
import { useEngine } from '../helpers/engine.js';
import { uniform } from '../helpers/random.js';
import { dropoutKeepRef } from '../reference/random.js';

const engine = useEngine();

function dropoutRef(x: ArrayLike<number>, p: number, seed: number, step: number): Float64Array {
  const keep = dropoutKeepRef(x.length, p, seed, step);
  return Float64Array.from(x, (v, i) => (keep[i] ? v / (1 - p) : 0));
}

describe('dropout', () => {
  it('forward matches the Philox mask reference', async () => {
    for (const [n, p] of [[1, 0.5], [7, 0.3], [257, 0.5], [4099, 0.9]] as const) {
      const x = uniform(n, n, -2, 2);
      const xt = tensor(engine(), x, [n]);
      const y = dropout(xt, { p, seed: 17, step: 4 });
      // Kept elements differ from x/(1 − p) only by the f32 rounding of the scale and product.
      expectClose(await y.read(), dropoutRef(x, p, 17, 4), { atol: 0, rtol: 3e-7 }, `n=${n} p=${p}`);
      xt.dispose();
      y.dispose();
    }
  });

  it('backward regenerates the mask and matches finite differences', async () => {
    const n = 33;
    const cfg = { p: 0.4, seed: 3, step: 12 };
    const x = uniform(n, 1);
    const dy = uniform(n, 2);
    const dyt = tensor(engine(), dy, [n]);
    const dx = dropoutGrad(dyt, cfg);
    const numeric = numericGradient((v) => dot(dy, dropoutRef(v, cfg.p, cfg.seed, cfg.step)), x);
    expectClose(await dx.read(), numeric, { atol: 1e-6, rtol: 1e-6 }, 'dx');
    dyt.dispose();
    dx.dispose();
  });

  it('same seed and step reproduce; another step draws another mask', async () => {
    const xt = tensor(engine(), new Float32Array(257).fill(1), [257]);
    const ys = [0, 0, 1].map((step) => dropout(xt, { p: 0.5, seed: 1, step }));
    const [a, b, c] = [await ys[0].read(), await ys[1].read(), await ys[2].read()];
    expect([...a]).toEqual([...b]);
    expect(a.some((v, i) => v !== c[i])).toBe(true);
    for (const t of [xt, ...ys]) t.dispose();
  });

  it('a step rewritten in place gives the uniforms a kernel made for that step', () => {
    for (const make of [dropoutForward, dropoutBackward]) {
      const config = { p: 0.3, seed: 0x1234_5678_9, step: 0 };
      const image = new Uint32Array(make(13, config).uniforms!.slice(0));
      for (const step of [1, 12, 0xffffffff, 0]) {
        setDropoutStep(image, step);
        expect([...image], `${make.name} step ${step}`).toEqual([...new Uint32Array(make(13, { ...config, step }).uniforms!)]);
      }
      expect(() => setDropoutStep(image, 2 ** 32)).toThrow(/stream\/step 4294967296 must be an integer in \[0, 2\^32\)/);
    }
  });

  it('keeps a fraction 1 − p of the elements', async () => {
    const n = 65536;
    const xt = tensor(engine(), new Float32Array(n).fill(1), [256, 256]);
    for (const p of [0.1, 0.5, 0.8]) {
      const y = dropout(xt, { p, seed: 42, step: 7 });
      const kept = (await y.read()).filter((v) => v !== 0).length / n;
      // Binomial standard error at most 0.5/256 ≈ 0.002.
      expect(Math.abs(kept - (1 - p)), `p=${p}`).toBeLessThan(0.01);
      y.dispose();
    }
    xt.dispose();
  });

  it('p = 0 is the identity and p = 1 gives zeros', async () => {
    const x = uniform(127, 5);
    const xt = tensor(engine(), x, [127]);
    const y0 = dropout(xt, { p: 0, seed: 9, step: 0 });
    expect([...(await y0.read())]).toEqual([...x]);
    const y1 = dropout(xt, { p: 1, seed: 9, step: 0 });
    expect([...(await y1.read())].every((v) => v === 0)).toBe(true);
    const g1 = dropoutGrad(xt, { p: 1, seed: 9, step: 0 });
    expect([...(await g1.read())].every((v) => v === 0)).toBe(true);
    for (const t of [xt, y0, y1, g1]) t.dispose();
  });

  it('rejects p outside [0, 1] before touching the GPU', () => {
    const xt = tensor(engine(), [1, 2, 3], [3]);
    expect(() => dropout(xt, { p: 1.5, seed: 0, step: 0 })).toThrow(ShapeError);
    expect(() => dropout(xt, { p: -0.1, seed: 0, step: 0 })).toThrow(/dropout: drop probability p = -0.1 must lie in \[0, 1\]/);
    xt.dispose();
  });

  it('leaves no buffers alive', () => {
    expect(engine().stats.liveBuffers).toBe(0);
  });
});
