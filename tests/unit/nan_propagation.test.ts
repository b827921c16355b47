import { describe, expect, it } from 'vitest';
import { ACTIVATIONS, activationSaves, type ActivationSpec } from '../../shaders/lib/activations.js';
import { activation, activationGrad } from '../../src/eager/activation.js';
import { avgPool2d, avgPool2dBackward, maxPool2d, maxPool2dBackward } from '../../src/eager/pool2d.js';
import { tensor } from '../../src/eager/tensor.js';
import { compileStep } from '../../src/graph/compile.js';
import { createGraph } from '../../src/graph/graph.js';
import type { Value } from '../../src/graph/ir.js';
import { ParameterStore } from '../../src/graph/params.js';
import { fuseEpilogues } from '../../src/graph/passes/fuse_epilogues.js';
import { scheduleOf } from '../../src/graph/passes/schedule.js';
import { Conv2d } from '../../src/nn/conv.js';
import { Activation, Linear, Sequential } from '../../src/nn/layers.js';
import { useEngine } from '../helpers/engine.js';
import { rng, uniform } from '../helpers/random.js';
import { expectSameSpecials, SPECIALS } from '../helpers/specials.js';
import { activate, activateGrad } from '../reference/activation.js';
import { evaluate } from '../reference/graph.js';
import { avgPool, maxPool, outSize, type RefPool } from '../reference/pool2d.js';

const engine = useEngine();
const TOL = { atol: 2e-6, rtol: 2e-6 };

/** `n` values: the specials first, then random ones from [-4, 4) with a NaN or an infinity now and then. */
function withSpecials(n: number, seed: number): Float32Array {
  const next = rng(seed);
  return Float32Array.from({ length: n }, (_, i) => {
    if (i < SPECIALS.length) return SPECIALS[i];
    const u = next();
    return u < 0.05 ? NaN : u < 0.08 ? Infinity : u < 0.11 ? -Infinity : -4 + 8 * next();
  });
}

const specs: ActivationSpec[] = [
  ...ACTIVATIONS.filter((k) => k !== 'leaky_relu').map((kind) => ({ kind })),
  ...[-0.5, 0, 0.01, 2].map((alpha) => ({ kind: 'leaky_relu' as const, alpha })),
];
const name = (s: ActivationSpec) => (s.kind === 'leaky_relu' ? `leaky_relu(${s.alpha})` : s.kind);

describe('the float64 references follow PyTorch', () => {
  // Values printed by torch 1.13 for [nan, inf, -inf]: forward, then the gradient of sum(f(x)).
  const torch: Record<string, [number[], number[]]> = {
    relu: [[NaN, Infinity, 0], [1, 1, 0]],
    'leaky_relu(-0.5)': [[NaN, Infinity, Infinity], [-0.5, 1, -0.5]],
    'leaky_relu(0)': [[NaN, Infinity, NaN], [0, 1, 0]],
    'leaky_relu(2)': [[NaN, Infinity, -Infinity], [2, 1, 2]],
    sigmoid: [[NaN, 1, 0], [NaN, 0, 0]],
    tanh: [[NaN, 1, -1], [NaN, 0, 0]],
    gelu: [[NaN, Infinity, NaN], [NaN, NaN, NaN]],
  };
  for (const [label, [y, dy]] of Object.entries(torch)) {
    it(label, () => {
      const spec = specs.find((s) => name(s) === label)!;
      const x = [NaN, Infinity, -Infinity];
      expectSameSpecials(x.map((v) => activate(spec.kind, v, spec.alpha)), y, TOL, `${label} forward`);
      expectSameSpecials(x.map((v) => activateGrad(spec.kind, v, spec.alpha)), dy, TOL, `${label} gradient`);
    });
  }
});

describe('activations propagate NaN and infinities as PyTorch', () => {
  for (const spec of specs) {
    it(`${name(spec)}: forward and backward, standalone kernel`, async () => {
      for (const n of [SPECIALS.length, 301]) {
        const x = withSpecials(n, n);
        const dy = uniform(n, n + 3, 0.5, 2);
        const xt = tensor(engine(), x, [n]);
        const dyt = tensor(engine(), dy, [n]);
        const y = activation(xt, spec);
        expectSameSpecials(await y.read(), Float64Array.from(x, (v) => activate(spec.kind, v, spec.alpha)), TOL, `${name(spec)} y`);
        const dx = activationGrad(dyt, activationSaves(spec) === 'input' ? xt : y, spec);
        const expected = Float64Array.from(x, (v, i) => dy[i] * activateGrad(spec.kind, v, spec.alpha));
        expectSameSpecials(await dx.read(), expected, TOL, `${name(spec)} dx`);
        for (const t of [xt, dyt, y, dx]) t.dispose();
      }
    });
  }
});

describe('fused epilogues propagate NaN and infinities', () => {
  // Output widths 8 (vector stores) and 7 (scalar); GELU is never folded forward.
  const fusedSpecs = specs.filter((s) => s.kind !== 'gelu' && s.kind !== 'none');
  for (const out of [7, 8]) {
    it(`Linear(5→${out}) + activation: the forward is one fused kernel and matches the float64 graph`, async () => {
      for (const spec of fusedSpecs) {
        await checkForward(new Sequential(new Linear(5, out), new Activation(spec)), [6, 5], 'matmul_fused', `${name(spec)} Linear→${out}`);
      }
    });
  }

  it('Conv2d + activation: the forward is one fused kernel and matches the float64 graph', async () => {
    for (const spec of fusedSpecs) {
      await checkForward(new Sequential(new Conv2d(2, 3, 3, { padding: 1 }), new Activation(spec)), [2, 2, 5, 4], 'conv2d_fused', `${name(spec)} Conv2d`);
    }
  });
});

/** Runs `model` forward on inputs with NaN and infinities; checks fusion happens and the output matches the float64 interpreter. */
async function checkForward(model: Sequential, shape: number[], fusedOp: string, what: string): Promise<void> {
  const store = new ParameterStore(engine(), { seed: 4 });
  model.register(store);
  const n = shape.reduce((a, b) => a * b, 1);
  // Few specials: a NaN and an infinity in the first sample, the rest finite, so most outputs stay finite.
  const x = uniform(n, 31, -2, 2);
  x[1] = NaN;
  x[3] = Infinity;
  x[n - 2] = -Infinity;

  const g = createGraph();
  const xv = g.input('x', shape);
  const yv = model.apply(g, xv, { store, training: false });
  const fused = fuseEpilogues(scheduleOf(g), new Set([yv]));
  expect(fused.map((s) => s.op), `${what}: fused schedule`).toEqual([fusedOp]);

  const step = await compileStep(engine(), {
    inputs: { x: { shape } },
    stores: [store],
    build: (sg, { x: input }) => ({ outputs: { y: model.apply(sg, input, { store, training: false }) } }),
  });
  step.run({ x });
  const feeds = new Map<Value, Float64Array>([[xv, Float64Array.from(x)]]);
  for (const p of g.params) feeds.set(p, Float64Array.from(await store.read(p.name)));
  const expected = evaluate(g, feeds).get(yv)!;
  expect(expected.some((v) => Number.isNaN(v)), `${what}: the case has NaN outputs`).toBe(true);
  expectSameSpecials(await step.read('y'), expected, { atol: 1e-5, rtol: 1e-5 }, what);
  step.dispose();
  store.dispose();
}

describe('pooling propagates NaN and infinities as PyTorch', () => {
  interface Case { shape: number[]; kernel: [number, number]; stride?: [number, number]; padding?: [number, number]; dilation?: [number, number] }
  const cases: Case[] = [
    { shape: [1, 1, 3, 4], kernel: [1, 2] },
    { shape: [2, 3, 7, 5], kernel: [3, 3], stride: [1, 1], padding: [1, 1] },
    { shape: [1, 2, 9, 8], kernel: [3, 2], stride: [2, 1], padding: [1, 0], dilation: [2, 3] },
  ];
  const ref = (c: Case, countIncludePad = true): RefPool => ({
    kernel: c.kernel, stride: c.stride ?? c.kernel, padding: c.padding ?? [0, 0], dilation: c.dilation ?? [1, 1], countIncludePad,
  });

  it('max pooling: a window with a NaN gives NaN, its argmax is the last NaN, and backward routes the gradient there', async () => {
    // PyTorch 1.13 on [[1, nan, 3, nan, nan, 5, 5, nan, -inf, -inf, inf, nan]] with kernel (1, 2):
    const fixed = tensor(engine(), [1, NaN, 3, NaN, NaN, 5, 5, NaN, -Infinity, -Infinity, Infinity, NaN], [1, 1, 1, 12]);
    const pooled = maxPool2d(fixed, { kernel: [1, 2] });
    expectSameSpecials(await pooled.y.read(), [NaN, NaN, NaN, NaN, -Infinity, NaN], TOL, 'torch example');
    expect(Array.from(await pooled.argmax.read())).toEqual([1, 3, 4, 7, 8, 11]);
    // And a window of four with two NaNs: torch picks the last one.
    const four = tensor(engine(), [5, NaN, NaN, 1], [1, 1, 1, 4]);
    const p4 = maxPool2d(four, { kernel: [1, 4] });
    expect(Array.from(await p4.argmax.read())).toEqual([2]);
    for (const t of [fixed, pooled.y, pooled.argmax, four, p4.y, p4.argmax]) t.dispose();

    for (const c of cases) {
      const size = c.shape.reduce((a, b) => a * b, 1);
      const x = withSpecials(size, size);
      const xt = tensor(engine(), x, c.shape);
      const { y, argmax } = maxPool2d(xt, c);
      const r = maxPool(x, c.shape, ref(c));
      expectSameSpecials(await y.read(), r.y, { atol: 0, rtol: 0 }, `max [${c.shape}]`);
      expect(Array.from(await argmax.read()), `argmax [${c.shape}]`).toEqual(Array.from(r.argmax));
      expect(r.y.some((v) => Number.isNaN(v))).toBe(true);
      // Backward scatters dy to the argmax: where that is a NaN the NaN's position gets the gradient.
      const dy = uniform(y.size, 5);
      const dyt = tensor(engine(), dy, y.shape);
      const dx = maxPool2dBackward(dyt, argmax, c.shape, c);
      const [h, w] = [c.shape[2], c.shape[3]];
      const perPlane = y.size / (c.shape[0] * c.shape[1]);
      const expected = new Float64Array(size);
      r.argmax.forEach((a, o) => (expected[Math.floor(o / perPlane) * h * w + a] += dy[o]));
      expectSameSpecials(await dx.read(), expected, { atol: 1e-6, rtol: 1e-6 }, `max dx [${c.shape}]`);
      for (const t of [xt, y, argmax, dyt, dx]) t.dispose();
    }
  });

  for (const countIncludePad of [true, false]) {
    it(`average pooling (countIncludePad ${countIncludePad}) gives NaN for a window with NaN or both infinities`, async () => {
      for (const c of cases.filter((k) => !k.dilation)) {
        const size = c.shape.reduce((a, b) => a * b, 1);
        const x = withSpecials(size, size + 1);
        const xt = tensor(engine(), x, c.shape);
        const y = avgPool2d(xt, { ...c, countIncludePad });
        const r = avgPool(x, c.shape, ref(c, countIncludePad));
        expect(r.some((v) => Number.isNaN(v)) && r.some((v) => !Number.isFinite(v) && !Number.isNaN(v))).toBe(true);
        expectSameSpecials(await y.read(), r, { atol: 1e-6, rtol: 1e-5 }, `avg [${c.shape}]`);
        // The gradient does not depend on x: a NaN input leaves it finite, as in PyTorch.
        const dyt = tensor(engine(), uniform(y.size, 9), y.shape);
        const dx = avgPool2dBackward(dyt, c.shape, { ...c, countIncludePad });
        expect((await dx.read()).every((v) => Number.isFinite(v))).toBe(true);
        for (const t of [xt, y, dyt, dx]) t.dispose();
      }
    });
  }

  it('output shape check', () => {
    expect(outSize([1, 1, 3, 4], ref(cases[0]))).toEqual([3, 2]);
  });
});

it('leaves no buffers alive', () => {
  expect(engine().stats.liveBuffers).toBe(0);
});
