import { describe, expect, it } from 'vitest';
import { add, addBackward, mul, mulBackward, scale, scaleBackward, sub, subBackward, where, whereBackward } from '../../src/eager/elementwise.js';
import { tensor } from '../../src/eager/tensor.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { useEngine } from '../helpers/engine.js';
import { dot, expectClose, numericGradient } from '../helpers/compare.js';
import { integers, uniform } from '../helpers/random.js';
import { broadcastBinary } from '../reference/elementwise.js';

const engine = useEngine();
const ops = { add, sub, mul };
const size = (s: readonly number[]) => s.reduce((x, y) => x * y, 1);

describe('elementwise', () => {
  const cases: { a: number[]; b: number[]; axis?: number }[] = [
    { a: [7, 33], b: [7, 33] },
    { a: [127, 33], b: [33] },
    { a: [1, 257], b: [257] },
    { a: [2, 3, 7, 5], b: [3], axis: 1 },
    { a: [2, 3, 7, 5], b: [3, 1, 1] },
    { a: [2, 3, 7, 5], b: [7, 5] },
    { a: [5, 3], b: [1, 3] },
    { a: [3, 11], b: [1] },
    { a: [1], b: [1] },
  ];

  for (const op of ['add', 'sub', 'mul'] as const) {
    it(`${op} forward broadcasts like NumPy (and from an axis)`, async () => {
      for (const { a, b, axis } of cases) {
        const av = uniform(size(a), size(a), -2, 2);
        const bv = uniform(size(b), size(b) + 7, -2, 2);
        const at = tensor(engine(), av, a);
        const bt = tensor(engine(), bv, b);
        const y = ops[op](at, bt, { axis });
        expectClose(await y.read(), broadcastBinary(op, av, a, bv, b, axis), { atol: 1e-6, rtol: 1e-6 }, `${op} [${a}] with [${b}]`);
        for (const t of [at, bt, y]) t.dispose();
      }
    });

    it(`${op} backward matches finite differences, reducing db over broadcast dimensions`, async () => {
      // The last case takes the chunked column reduction (bias gradient over many rows).
      const gradCases = [cases[0], { a: [31, 33], b: [33] }, cases[3], cases[4], cases[7], { a: [600, 3], b: [3] }];
      for (const { a, b, axis } of gradCases) {
        const av = uniform(size(a), 3 * size(a), -2, 2);
        const bv = uniform(size(b), size(b) + 9, -2, 2);
        const dy = uniform(size(a), 5 * size(a));
        const dyt = tensor(engine(), dy, a);
        const at = tensor(engine(), av, a);
        const bt = tensor(engine(), bv, b);
        const { da, db } = op === 'mul' ? mulBackward(dyt, at, bt, { axis }) : (op === 'add' ? addBackward : subBackward)(dyt, b, { axis });
        expect(db.shape).toEqual(b);
        const f = (x: Float64Array | Float32Array, y: Float64Array | Float32Array) => dot(dy, broadcastBinary(op, x, a, y, b, axis));
        // Every output is linear in each operand, so central differences are exact up to rounding.
        const numB = numericGradient((v) => f(av, v), bv, 1e-3);
        const terms = size(a) / size(b);
        // Differencing every element of a costs size(a)^2; the large case checks db only.
        if (size(a) <= 300) {
          const numA = numericGradient((v) => f(v, bv), av, 1e-3);
          expectClose(await da.read(), numA, { atol: 1e-5, rtol: 1e-5 }, `${op} da [${a}] with [${b}]`);
        }
        expectClose(await db.read(), numB, { atol: terms * 4e-7 + 1e-5, rtol: 1e-5 }, `${op} db [${a}] with [${b}]`);
        for (const t of [dyt, at, bt, da, db]) t.dispose();
      }
    });
  }

  it('scale forward and backward', async () => {
    const x = uniform(257, 1, -3, 3);
    const xt = tensor(engine(), x, [257]);
    const y = scale(xt, -1.5, 0.25);
    expectClose(await y.read(), Float64Array.from(x, (v) => v * -1.5 + 0.25), { atol: 1e-6 });
    const dy = uniform(257, 2);
    const dyt = tensor(engine(), dy, [257]);
    const dx = scaleBackward(dyt, -1.5);
    const numeric = numericGradient((v) => dot(dy, v.map((e) => e * -1.5 + 0.25)), x, 1e-3);
    expectClose(await dx.read(), numeric, { atol: 1e-5, rtol: 1e-5 });
    for (const t of [xt, y, dyt, dx]) t.dispose();
  });

  for (const dtype of ['u32', 'f32'] as const) {
    it(`where with a ${dtype} mask: forward, and dy flows to the chosen branch`, async () => {
      const n = 127;
      const mask = integers(n, 2, 4);
      const av = uniform(n, 5);
      const bv = uniform(n, 6);
      const dy = uniform(n, 7);
      const ref = (x: ArrayLike<number>, y: ArrayLike<number>) => Float64Array.from(mask, (m, i) => (m ? x[i] : y[i]));
      const ct = tensor(engine(), mask, [n], dtype);
      const at = tensor(engine(), av, [n]);
      const bt = tensor(engine(), bv, [n]);
      const dyt = tensor(engine(), dy, [n]);
      const y = where(ct, at, bt);
      expect(Array.from(await y.read())).toEqual(Array.from(ref(av, bv), Math.fround));
      const { da, db } = whereBackward(ct, dyt);
      const numA = numericGradient((v) => dot(dy, ref(v, bv)), av, 1e-3);
      const numB = numericGradient((v) => dot(dy, ref(av, v)), bv, 1e-3);
      expectClose(await da.read(), numA, { atol: 1e-5, rtol: 1e-5 }, 'da');
      expectClose(await db.read(), numB, { atol: 1e-5, rtol: 1e-5 }, 'db');
      for (const t of [ct, at, bt, dyt, y, da, db]) t.dispose();
    });
  }

  it('rejects shapes that do not broadcast, before touching the GPU', async () => {
    const a = tensor(engine(), uniform(6, 1), [2, 3]);
    const b = tensor(engine(), uniform(4, 2), [4]);
    const c = tensor(engine(), uniform(2, 3), [2]);
    expect(() => add(a, b)).toThrow(ShapeError);
    expect(() => add(a, b)).toThrow(/add: bias \[4\] does not match input \[2, 3\] at axis 1; expected \[3\]/);
    expect(() => mul(a, c)).toThrow(/mul: A \[2, 3\] and B \[2\]/);
    const rows = add(a, c, { axis: 0 });
    expect(() => sub(c, a)).toThrow(/B has more dimensions than A/);
    expect(() => where(a, a, c)).toThrow(/where: a \[2, 3\] and b \[2\] must have the same shape/);
    expect(Array.from(await rows.read())).toEqual(Array.from(broadcastBinary('add', await a.read(), [2, 3], await c.read(), [2], 0), Math.fround));
    for (const t of [a, b, c, rows]) t.dispose();
  });

  it('leaves no buffers alive', async () => {
    await engine().sync();
    expect(engine().stats.liveBuffers).toBe(0);
  });
});
