import { describe, expect, it } from 'vitest';
import {
  adamStep,
  adamwStep,
  clipGradNorm,
  createAdamState,
  createSGDState,
  sgdStep,
  zeroGrad,
} from '../../src/eager/optimizer.js';
import { tensor, type Tensor } from '../../src/eager/tensor.js';
import { ShapeError } from '../../src/gpu/errors.js';
import type { AdamConfig, SGDConfig } from '../../src/kernels/optimizer.js';
import { expectClose } from '../helpers/compare.js';
import { useEngine } from '../helpers/engine.js';
import { uniform } from '../helpers/random.js';
import { adamRefStep, clipGradNormRef, sgdRefStep } from '../reference/optimizer.js';

const engine = useEngine();

const SIZES = [1, 7, 257, 4099];
const STEPS = 4;
// Several f32 updates of O(1) parameters: each step rounds at ~6e-8 relative.
const TOL = { atol: 2e-6, rtol: 2e-5 };

/**
 * A fresh gradient tensor per step, disposed only after the result is read: eager work is recorded
 * and submitted later, so neither rewriting nor freeing a buffer that pending work reads is safe.
 */
const gradFor = (n: number, step: number) => uniform(n, 1000 * step + n, -1, 1);

describe('sgd', () => {
  const configs: SGDConfig[] = [
    { lr: 0.1 },
    { lr: 0.1, weightDecay: 0.05 },
    { lr: 0.05, momentum: 0.9 },
    { lr: 0.05, momentum: 0.9, dampening: 0.3, weightDecay: 0.01 },
    { lr: 0.05, momentum: 0.8, nesterov: true },
    { lr: 0.02, momentum: 0.9, nesterov: true, weightDecay: 0.1 },
  ];
  for (const cfg of configs) {
    it(`${JSON.stringify(cfg)} matches PyTorch's algorithm over ${STEPS} steps`, async () => {
      for (const n of SIZES) {
        const theta = Float64Array.from(uniform(n, n, -2, 2));
        const buf = new Float64Array(n);
        const param = tensor(engine(), theta, [n]);
        const state = createSGDState(param, cfg);
        const grads: Tensor[] = [];
        const ref = { momentum: 0, dampening: 0, nesterov: false, weightDecay: 0, ...cfg };
        for (let t = 1; t <= STEPS; t++) {
          const g = gradFor(n, t);
          const grad = tensor(engine(), g, [n]);
          sgdStep(param, grad, state, cfg, t);
          grads.push(grad);
          sgdRefStep(theta, g, buf, ref, t);
        }
        expectClose(await param.read(), theta, TOL, `param n=${n}`);
        if (state.momentumBuffer) expectClose(await state.momentumBuffer.read(), buf, TOL, `momentum n=${n}`);
        for (const g of grads) g.dispose();
        param.dispose();
        state.momentumBuffer?.dispose();
      }
    });
  }
});

describe('adam / adamw', () => {
  const cases: [string, boolean, AdamConfig][] = [
    ['adam', false, { lr: 0.01 }],
    ['adam', false, { lr: 0.01, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.1 }],
    ['adamw', true, { lr: 0.01 }],
    ['adamw', true, { lr: 0.003, beta1: 0.5, beta2: 0.9, weightDecay: 0.3 }],
  ];
  for (const [name, decoupled, cfg] of cases) {
    it(`${name} ${JSON.stringify(cfg)} matches PyTorch's algorithm over ${STEPS} steps`, async () => {
      for (const n of SIZES) {
        const theta = Float64Array.from(uniform(n, n + 1, -2, 2));
        const [m, v] = [new Float64Array(n), new Float64Array(n)];
        const param = tensor(engine(), theta, [n]);
        const state = createAdamState(param);
        const grads: Tensor[] = [];
        const ref = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: decoupled ? 1e-2 : 0, ...cfg };
        for (let t = 1; t <= STEPS; t++) {
          const g = gradFor(n, t);
          const grad = tensor(engine(), g, [n]);
          (decoupled ? adamwStep : adamStep)(param, grad, state, cfg, t);
          grads.push(grad);
          adamRefStep(theta, g, m, v, ref, t, decoupled);
        }
        expectClose(await param.read(), theta, TOL, `param n=${n}`);
        expectClose(await state.m.read(), m, TOL, `m n=${n}`);
        expectClose(await state.v.read(), v, TOL, `v n=${n}`);
        for (const t of [param, state.m, state.v, ...grads]) t.dispose();
      }
    });
  }

  it('a learning-rate schedule changes only the uniform, not the pipeline', async () => {
    const n = 33;
    const theta = Float64Array.from(uniform(n, 5));
    const [m, v] = [new Float64Array(n), new Float64Array(n)];
    const param = tensor(engine(), theta, [n]);
    const state = createAdamState(param);
    let pipelines = -1;
    for (let t = 1; t <= 5; t++) {
      const cfg = { lr: 0.1 * 0.5 ** t };
      const g = gradFor(n, t);
      const grad = tensor(engine(), g, [n]);
      adamwStep(param, grad, state, cfg, t);
      await engine().flush();
      if (t === 1) pipelines = engine().stats.pipelines;
      grad.dispose();
      adamRefStep(theta, g, m, v, { lr: cfg.lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-2 }, t, true);
    }
    expect(engine().stats.pipelines).toBe(pipelines);
    expectClose(await param.read(), theta, TOL, 'scheduled adamw');
    for (const t of [param, state.m, state.v]) t.dispose();
  });
});

describe('gradient utilities', () => {
  it('zeroGrad clears every element', async () => {
    const g = tensor(engine(), uniform(4099, 3), [4099]);
    zeroGrad(g);
    expect((await g.read()).every((x) => x === 0)).toBe(true);
    g.dispose();
  });

  it('clipGradNorm matches clip_grad_norm_ with and without clipping', async () => {
    for (const n of [1, 7, 257, 4099, 70_001]) {
      for (const maxNorm of [0.5, 1e6]) {
        const g = uniform(n, n + 7, -1, 1);
        const ref = Float64Array.from(g);
        const norm = clipGradNormRef(ref, maxNorm);
        const gt = tensor(engine(), g, [n]);
        const nt = clipGradNorm(gt, maxNorm);
        // The norm sums up to 7e4 squares in f32 over a tree.
        expectClose(await nt.read(), [norm], { atol: 0, rtol: 1e-5 }, `norm n=${n}`);
        expectClose(await gt.read(), ref, { atol: 1e-7, rtol: 1e-5 }, `clipped n=${n} max=${maxNorm}`);
        gt.dispose();
        nt.dispose();
      }
    }
  });

  it('rejects mismatched state and bad hyperparameters before touching the GPU', () => {
    const p = tensor(engine(), [1, 2, 3], [3]);
    const g = tensor(engine(), [1, 2], [2]);
    const state = createAdamState(p);
    expect(() => adamStep(p, g, state, {}, 1)).toThrow(/adam: grad Tensor<f32>\[2\] must be f32 with as many elements as param/);
    expect(() => adamStep(p, p, state, { beta1: 1 }, 1)).toThrow(ShapeError);
    expect(() => adamwStep(p, p, state, {}, 0)).toThrow(/adamw: step 0 must be an integer ≥ 1/);
    expect(() => sgdStep(p, p, {}, { lr: 0.1, nesterov: true }, 1)).toThrow(/Nesterov momentum requires momentum > 0/);
    expect(() => sgdStep(p, p, {}, { lr: 0.1, momentum: 0.9 }, 1)).toThrow(/needs state.momentumBuffer/);
    for (const t of [p, g, state.m, state.v]) t.dispose();
  });

  it('leaves no buffers alive', () => {
    expect(engine().stats.liveBuffers).toBe(0);
  });
});
