import { describe, expect, it } from 'vitest';
import { compileStep } from '../../src/graph/compile.js';
import { ParameterStore } from '../../src/graph/params.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { UniformImage } from '../../src/kernels/optimizer.js';
import { Linear, ReLU, Sequential } from '../../src/nn/layers.js';
import { Adam, AdamW, SGD, type Optimizer } from '../../src/optim/optimizers.js';
import { expectClose } from '../helpers/compare.js';
import { useEngine } from '../helpers/engine.js';
import { integers, uniform } from '../helpers/random.js';
import { adamRefStep, sgdRefStep } from '../reference/optimizer.js';

// A compiled step keeps its optimizer's uniform image and rewrites, in place, what changes between
// steps. These tests check that what it rewrites is the whole of what a fresh image would hold.

const engine = useEngine();

const adamConfig = { lr: 0.02, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.1 };
const adamwConfig = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.3 };
const sgdConfig = { lr: 0.1, momentum: 0.9, dampening: 0.2, nesterov: false, weightDecay: 0.05 };
const nesterovConfig = { lr: 0.1, momentum: 0.5, dampening: 0, nesterov: true, weightDecay: 0 };

const optimizers: [string, () => Optimizer][] = [
  ['adam', () => new Adam(adamConfig)],
  ['adamw', () => new AdamW({ lr: adamwConfig.lr, weightDecay: adamwConfig.weightDecay })],
  ['sgd', () => new SGD(sgdConfig)],
  ['sgd nesterov', () => new SGD({ lr: 0.1, momentum: 0.5, nesterov: true })],
];

/**
 * The uniform words the optimizer shaders read (shaders/optimizer.ts, struct Params) for step t at
 * rate lr, written out from the algorithms: Adam n, t, lr, β1, β2, ε, L2, lr·λ (AdamW), lr/(1−β1ᵗ),
 * √(1−β2ᵗ); SGD n, t, nesterov, lr, momentum, dampening, weight decay.
 */
function expectedWords(name: string, n: number, t: number, lr: number): { u32: number[]; f32: number[] } {
  if (name.startsWith('adam')) {
    const c = name === 'adamw' ? adamwConfig : adamConfig;
    const decoupled = name === 'adamw';
    const f32 = [lr, c.beta1, c.beta2, c.eps, decoupled ? 0 : c.weightDecay, decoupled ? lr * c.weightDecay : 0, lr / (1 - c.beta1 ** t), Math.sqrt(1 - c.beta2 ** t)];
    return { u32: [n, t], f32 };
  }
  const c = name === 'sgd' ? sgdConfig : nesterovConfig;
  return { u32: [n, t, c.nesterov ? 1 : 0], f32: [lr, c.momentum, c.dampening, c.weightDecay] };
}

/** A learning rate per step that no two steps share, as under a schedule. */
const rateAt = (t: number) => 0.05 / (1 + 0.7 * t);

describe('optimizer uniforms rewritten in place', () => {
  it.each(optimizers)('%s: the image of step 1, rewritten for step t at a new rate, holds what step t needs', (name, make) => {
    const optimizer = make();
    const n = 4099;
    const image = new UniformImage(optimizer.kernel(n, 1).uniforms!.slice(0));
    for (const t of [1, 2, 3, 17, 1000, 0xffffffff]) {
      optimizer.lr = rateAt(t);
      optimizer.writeUniforms(image, t);
      const { u32, f32 } = expectedWords(name, n, t, rateAt(t));
      expect([...image.u32.subarray(0, u32.length)], `step ${t}`).toEqual(u32);
      expect([...image.f32.subarray(u32.length, u32.length + f32.length)], `step ${t}`).toEqual([...Float32Array.from(f32)]);
      // The same bytes as the image a kernel built for step t carries.
      expect(new Uint8Array(image.bytes), `step ${t}`).toEqual(new Uint8Array(optimizer.kernel(n, t).uniforms!));
    }
  });

  it('refuses a bad learning rate when it is set, naming the optimizer, and keeps the last good one', () => {
    for (const [name, make] of optimizers) {
      const optimizer = make();
      const before = optimizer.lr;
      for (const bad of [-1e-3, Number.NaN]) {
        expect(() => (optimizer.lr = bad), name).toThrow(ShapeError);
        expect(() => (optimizer.lr = bad), name).toThrow(new RegExp(`^${optimizer.name}: lr ${bad} must be non-negative`));
      }
      expect(optimizer.lr).toBe(before);
    }
  });

  it('refuses a step count the uniforms cannot hold', () => {
    const optimizer = new Adam();
    const image = new UniformImage(optimizer.kernel(8, 1).uniforms!.slice(0));
    expect(() => optimizer.writeUniforms(image, 0)).toThrow(/adam: step 0 must be an integer ≥ 1/);
    expect(() => optimizer.writeUniforms(image, 2 ** 32)).toThrow(/adam: step 4294967296 must be an integer ≥ 1/);
  });

  it.each(optimizers)('%s: a compiled step whose learning rate changes every step matches the float64 reference', async (name, make) => {
    const optimizer = make();
    const store = new ParameterStore(engine(), { seed: 7 });
    // 5 inputs and 3 outputs: sizes that fill no tile, so the flat buffer carries padding.
    const model = new Sequential(new Linear(5, 6), ReLU(), new Linear(6, 3));
    model.register(store);
    const step = await compileStep(engine(), {
      inputs: { x: { shape: [4, 5] }, labels: { shape: [4], dtype: 'u32' } },
      stores: [store],
      build: (g, { x, labels }) => {
        const [loss] = g.apply('softmax_cross_entropy', [model.apply(g, x, { store, training: true }), labels], {});
        return { outputs: { loss }, minimize: { loss, store, optimizer } };
      },
    });
    const n = store.length;
    const readFlat = async (buffer: GPUBuffer) => Float64Array.from(new Float32Array(await engine().readBytes(buffer, n * 4)));
    const theta = await readFlat(store.paramBuffer);
    const [m, v, b] = [new Float64Array(n), new Float64Array(n), new Float64Array(n)];
    for (let t = 1; t <= 4; t++) {
      optimizer.lr = rateAt(t);
      step.run({ x: uniform(4 * 5, t, -2, 2), labels: integers(4, 3, t) });
      const grad = await readFlat(store.gradBuffer);
      if (name.startsWith('adam')) adamRefStep(theta, grad, m, v, { ...(name === 'adamw' ? adamwConfig : adamConfig), lr: rateAt(t) }, t, name === 'adamw');
      else sgdRefStep(theta, grad, b, { ...(name === 'sgd' ? sgdConfig : nesterovConfig), lr: rateAt(t) }, t);
      // Each step starts from the GPU's parameters, so rounding does not build up over the steps.
      expectClose(await readFlat(store.paramBuffer), theta, { atol: 1e-6, rtol: 1e-5 }, `${name} step ${t}`);
      theta.set(await readFlat(store.paramBuffer));
    }
    step.dispose();
    store.dispose();
  });
});
