import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { activationSaves, type ActivationSpec } from '../../shaders/lib/activations.js';
import { activation, activationGrad } from '../../src/eager/activation.js';
import { avgPool2d, maxPool2d, maxPool2dBackward } from '../../src/eager/pool2d.js';
import { softmaxCrossEntropy } from '../../src/eager/softmax_cross_entropy.js';
import { tensor } from '../../src/eager/tensor.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { pool2dGeometry } from '../../src/kernels/pool2d.js';
import { useEngine } from '../helpers/engine.js';
import { expectClose } from '../helpers/compare.js';
import { expectSameSpecials } from '../helpers/specials.js';
import { activate, activateGrad } from '../reference/activation.js';
import { avgPool, maxPool, type RefPool } from '../reference/pool2d.js';
import { countCorrect, countInvalid, crossEntropy, crossEntropyGrad } from '../reference/softmax_cross_entropy.js';

/*
 * Property-based checks of the kernels whose numerics a diverging run depends on: random shapes,
 * slopes and inputs laced with NaN and infinities, against the float64 references (which follow
 * PyTorch). Run counts are bounded so the file runs in seconds; a failure prints its seed.
 */

const engine = useEngine();
const RUNS = { numRuns: 40 };

/** Finite values on a 1/1000 grid (no denormals, which a GPU may flush), NaN and infinities. */
const value = fc.oneof(
  { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity, 0, -0) },
  { weight: 6, arbitrary: fc.integer({ min: -50_000, max: 50_000 }).map((k) => k / 1000) },
);
const values = (min: number, max: number) => fc.array(value, { minLength: min, maxLength: max }).map((a) => Float32Array.from(a));

const spec: fc.Arbitrary<ActivationSpec> = fc.oneof(
  fc.constantFrom<ActivationSpec['kind']>('none', 'relu', 'sigmoid', 'tanh', 'gelu').map((kind) => ({ kind })),
  fc.oneof(fc.constantFrom(-0.5, 0, 0.01, 2), fc.integer({ min: -300, max: 300 }).map((k) => k / 100)).map((alpha) => ({ kind: 'leaky_relu' as const, alpha })),
);

describe('activations under fuzzing', () => {
  it('forward and backward match the float64 reference, NaN and infinities included', async () => {
    await fc.assert(
      fc.asyncProperty(spec, values(1, 70), async (a, x) => {
        const dy = Float32Array.from(x, (_, i) => 0.5 + (i % 7) / 4);
        const xt = tensor(engine(), x, [x.length]);
        const dyt = tensor(engine(), dy, [x.length]);
        const y = activation(xt, a);
        const dx = activationGrad(dyt, activationSaves(a) === 'input' ? xt : y, a);
        try {
          const what = `${a.kind}(${a.alpha ?? ''})`;
          expectSameSpecials(await y.read(), Float64Array.from(x, (v) => activate(a.kind, v, a.alpha)), { atol: 2e-6, rtol: 2e-6 }, `${what} y`);
          const expected = Float64Array.from(x, (v, i) => dy[i] * activateGrad(a.kind, v, a.alpha));
          expectSameSpecials(await dx.read(), expected, { atol: 2e-6, rtol: 2e-6 }, `${what} dx`);
        } finally {
          for (const t of [xt, dyt, y, dx]) t.dispose();
        }
      }),
      RUNS,
    );
  });
});

describe('pooling under fuzzing', () => {
  const pair = (max: number, min = 1) => fc.tuple(fc.integer({ min, max }), fc.integer({ min, max }));
  // Dilation 1 twice as often as 2; sizes down to 1 keep the refusals exercised too.
  const dilation = fc.tuple(fc.constantFrom(1, 1, 2), fc.constantFrom(1, 1, 2));
  const options = fc.record({ kernel: pair(3), stride: pair(3), padding: pair(1, 0), dilation });
  const side = fc.oneof({ weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }) }, { weight: 4, arbitrary: fc.integer({ min: 4, max: 9 }) });
  const shape = fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 }), side, side);

  it('max and average pooling match the float64 reference or refuse the geometry with a ShapeError', async () => {
    let pooled = 0;
    await fc.assert(
      fc.asyncProperty(shape, options, fc.boolean(), fc.integer(), async (s, o, countIncludePad, seed) => {
        const dims = [...s];
        try {
          pool2dGeometry('max_pool2d', dims, o);
        } catch (e) {
          expect(e).toBeInstanceOf(ShapeError);
          return;
        }
        pooled++;
        const size = dims.reduce((p, q) => p * q, 1);
        const x = Float32Array.from({ length: size }, (_, i) => [NaN, Infinity, -Infinity][(i * 7 + seed) % 23] ?? ((i * 37 + seed) % 19) / 4 - 2);
        const ref: RefPool = { ...o, countIncludePad };
        const xt = tensor(engine(), x, dims);
        const { y, argmax } = maxPool2d(xt, o);
        const dyt = tensor(engine(), Float32Array.from({ length: y.size }, (_, i) => 1 + (i % 5)), y.shape);
        const dx = maxPool2dBackward(dyt, argmax, dims, o);
        const avg = o.dilation[0] === 1 && o.dilation[1] === 1 ? avgPool2d(xt, { ...o, countIncludePad }) : undefined;
        try {
          const r = maxPool(x, dims, ref);
          expectSameSpecials(await y.read(), r.y, { atol: 0, rtol: 0 }, 'max y');
          expect(Array.from(await argmax.read())).toEqual(Array.from(r.argmax));
          const expected = new Float64Array(size);
          const perPlane = y.size / (dims[0] * dims[1]);
          r.argmax.forEach((at, k) => (expected[Math.floor(k / perPlane) * dims[2] * dims[3] + at] += 1 + (k % 5)));
          expectClose(await dx.read(), expected, { atol: 0, rtol: 0 }, 'max dx');
          if (avg) expectSameSpecials(await avg.read(), avgPool(x, dims, ref), { atol: 1e-6, rtol: 1e-5 }, 'avg y');
        } finally {
          for (const t of [xt, y, argmax, dyt, dx, ...(avg ? [avg] : [])]) t.dispose();
        }
      }),
      RUNS,
    );
    // Most generated geometries must reach the GPU, or the property tests little.
    expect(pooled).toBeGreaterThan(RUNS.numRuns / 4);
  });
});

describe('softmax cross-entropy under fuzzing', () => {
  it('loss, gradient, correct and invalid counts match the float64 reference with ignored and invalid labels, NaN and infinities', async () => {
    const problem = fc
      .tuple(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 80 }), fc.option(fc.integer({ min: 0, max: 90 }), { nil: undefined }))
      .chain(([batch, classes, ignoreIndex]) =>
        fc.tuple(
          fc.constant(batch),
          fc.constant(classes),
          fc.constant(ignoreIndex),
          fc.array(fc.integer({ min: 0, max: classes + 12 }), { minLength: batch, maxLength: batch }),
          fc.array(fc.oneof({ weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity) }, { weight: 30, arbitrary: fc.integer({ min: -4000, max: 4000 }).map((k) => k / 1000) }), {
            minLength: batch * classes,
            maxLength: batch * classes,
          }),
          fc.constantFrom<'thread' | 'workgroup'>('thread', 'workgroup'),
        ),
      );
    await fc.assert(
      fc.asyncProperty(problem, async ([batch, classes, ignoreIndex, labelList, logitList, variant]) => {
        const x = Float32Array.from(logitList);
        const labels = Uint32Array.from(labelList);
        const xt = tensor(engine(), x, [batch, classes]);
        const lt = tensor(engine(), labels, [batch], 'u32');
        const r = softmaxCrossEntropy(xt, lt, { countCorrect: true, countInvalid: true, ignoreIndex, variant });
        try {
          const expected = crossEntropy(x, labels, classes, ignoreIndex);
          expectSameSpecials(await r.loss.read(), [expected], { atol: 1e-5, rtol: 1e-5 }, 'loss');
          expectSameSpecials(await r.dLogits.read(), crossEntropyGrad(x, labels, classes, ignoreIndex), { atol: 1e-6, rtol: 1e-4 }, 'dLogits');
          expect(Array.from(await r.correct!.read())).toEqual([countCorrect(x, labels, classes, ignoreIndex)]);
          expect(Array.from(await r.invalid!.read())).toEqual([countInvalid(labels, classes, ignoreIndex)]);
        } finally {
          for (const t of [xt, lt, r.loss, r.dLogits, r.correct!, r.invalid!]) t.dispose();
        }
      }),
      RUNS,
    );
  });

  it('leaves no buffers alive', () => {
    expect(engine().stats.liveBuffers).toBe(0);
  });
});
