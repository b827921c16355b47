import { describe, expect, it } from 'vitest';
import { activationSaves, type ActivationSpec } from '../../shaders/lib/activations.js';
import { activation, activationGrad } from '../../src/eager/activation.js';
import { tensor } from '../../src/eager/tensor.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { gradients } from '../../src/graph/autodiff.js';
import { compileStep } from '../../src/graph/compile.js';
import { createGraph } from '../../src/graph/graph.js';
import type { Value } from '../../src/graph/ir.js';
import { ParameterStore } from '../../src/graph/params.js';
import { fuseEpilogues } from '../../src/graph/passes/fuse_epilogues.js';
import { eliminateDeadOps, scheduleOf, type ScheduledOp } from '../../src/graph/passes/schedule.js';
import { Conv2d } from '../../src/nn/conv.js';
import { Flatten, LeakyReLU, Linear, Sequential } from '../../src/nn/layers.js';
import { SGD } from '../../src/optim/optimizers.js';
import { dot, expectClose, numericGradient } from '../helpers/compare.js';
import { useEngine } from '../helpers/engine.js';
import { integers, uniform } from '../helpers/random.js';
import { activateAll, activateGrad } from '../reference/activation.js';
import { evaluate } from '../reference/graph.js';

const engine = useEngine();
const SLOPES = [-0.5, 0, 0.01, 2];
const f64 = (a: ArrayLike<number>) => Float64Array.from(a);

/** Values in [-3, 3) kept 0.05 away from the kink at 0, where finite differences mean nothing. */
function awayFromZero(n: number, seed: number): Float32Array {
  return uniform(n, seed, -3, 3).map((v) => (Math.abs(v) < 0.05 ? v + Math.sign(v || 1) * 0.1 : v));
}

describe('leaky_relu, standalone kernel', () => {
  for (const alpha of SLOPES) {
    it(`slope ${alpha}: forward and backward match float64 and finite differences`, async () => {
      const spec: ActivationSpec = { kind: 'leaky_relu', alpha };
      for (const n of [1, 7, 257, 1003]) {
        const x = awayFromZero(n, n);
        const dy = uniform(n, n + 1);
        const xt = tensor(engine(), x, [n]);
        const dyt = tensor(engine(), dy, [n]);
        const y = activation(xt, spec);
        expectClose(await y.read(), activateAll('leaky_relu', x, alpha), { atol: 1e-6, rtol: 1e-6 }, `y n=${n}`);
        const dx = activationGrad(dyt, activationSaves(spec) === 'input' ? xt : y, spec);
        const got = await dx.read();
        expectClose(got, Float64Array.from(x, (v, i) => dy[i] * activateGrad('leaky_relu', v, alpha)), { atol: 1e-6, rtol: 1e-6 }, `dx n=${n}`);
        if (n <= 257) {
          const numeric = numericGradient((v) => dot(dy, activateAll('leaky_relu', v, alpha)), x);
          expectClose(got, numeric, { atol: 1e-5, rtol: 1e-4 }, `dx vs finite differences n=${n}`);
        }
        for (const t of [xt, dyt, y, dx]) t.dispose();
      }
    });
  }

  it('LeakyReLU refuses a slope that is not a finite number when the layer is made', () => {
    for (const alpha of [NaN, Infinity, -Infinity]) expect(() => LeakyReLU(alpha)).toThrow(/LeakyReLU: negative_slope .* must be a finite number/);
    expect(() => LeakyReLU(-0.5)).not.toThrow();
  });

  it('rejects a slope that is not a finite number when the graph is built', () => {
    for (const alpha of [NaN, Infinity]) {
      const g = createGraph();
      const x = g.input('x', [2, 3]);
      expect(() => g.apply('activation', [x], { activation: { kind: 'leaky_relu', alpha } })).toThrow(ShapeError);
      expect(() => g.apply('activation', [x], { activation: { kind: 'leaky_relu', alpha } })).toThrow(/slope (NaN|Infinity) must be a finite number/);
    }
  });
});

const models: { name: string; make: (alpha: number) => Sequential; input: number[]; classes: number }[] = [
  { name: 'Linear', make: (alpha) => new Sequential(new Linear(5, 7), LeakyReLU(alpha), new Linear(7, 3)), input: [6, 5], classes: 3 },
  {
    name: 'Conv2d',
    make: (alpha) => new Sequential(new Conv2d(2, 3, 3, { padding: 1 }), LeakyReLU(alpha), new Flatten(), new Linear(3 * 5 * 3, 3)),
    input: [2, 2, 5, 3],
    classes: 3,
  },
];

/** The training graph of `model` on the test's shapes, with what a compiled step keeps. */
function trainingGraph(model: Sequential, store: ParameterStore, input: number[]) {
  const g = createGraph();
  const x = g.input('x', input);
  const labels = g.input('labels', [input[0]], 'u32');
  const [loss] = g.apply('softmax_cross_entropy', [model.apply(g, x, { store, training: true }), labels], {});
  const forwardEnd = g.nodes.length;
  const grads = gradients(g, loss, g.params);
  return { g, x, labels, loss, forwardEnd, grads, keep: new Set<Value>([loss, ...grads.values()]) };
}

describe('leaky_relu in a compiled training step', () => {
  for (const { name, make, input, classes } of models) {
    for (const alpha of SLOPES) {
      it(`${name} + LeakyReLU(${alpha}): the fused path is taken and the SGD update matches finite differences`, async () => {
        const store = new ParameterStore(engine(), { seed: 5 });
        const model = make(alpha);
        model.register(store);

        const ref = trainingGraph(model, store, input);
        const x = uniform(input.reduce((a, b) => a * b, 1), 21, -2, 2);
        const labels = integers(input[0], classes, 22);
        const before = new Map<string, Float32Array>();
        for (const p of store.list) before.set(p.name, await store.read(p.name));
        const feeds = new Map<Value, Float64Array>([[ref.x, f64(x)], [ref.labels, f64(labels)]]);
        for (const p of ref.g.params) feeds.set(p, f64(before.get(p.name)!));
        const lossAt = (p: Value) => (v: Float64Array) => evaluate(ref.g, new Map(feeds).set(p, v), ref.forwardEnd).get(ref.loss)![0];

        for (const fuse of [true, false]) {
          for (const p of store.list) store.write(p.name, before.get(p.name)!);
          const step = await compileStep(engine(), {
            inputs: { x: { shape: input }, labels: { shape: [input[0]], dtype: 'u32' } },
            stores: [store],
            fuse,
            build: (g, v) => {
              const [loss] = g.apply('softmax_cross_entropy', [model.apply(g, v.x, { store, training: true }), v.labels], {});
              return { outputs: { loss }, minimize: { loss, store, optimizer: new SGD({ lr: 1 }) } };
            },
          });
          step.run({ x, labels });
          for (const p of ref.g.params) {
            const numeric = numericGradient(lossAt(p), feeds.get(p)!);
            const expected = before.get(p.name)!.map((v, i) => v - numeric[i]);
            expectClose(await store.read(p.name), expected, { atol: 2e-5, rtol: 1e-3 }, `${p.name} (fuse ${fuse})`);
          }
          step.dispose();
        }
        store.dispose();

        // What the fusion pass does with this graph: the epilogue takes the activation whenever its
        // input is not needed by the backward (slope >= 0); the slope's derivative is always folded
        // into the backward matmul's prologue for Linear.
        const fused = fuseEpilogues(eliminateDeadOps(scheduleOf(ref.g), ref.keep), ref.keep);
        const producer = name === 'Linear' ? 'matmul_fused' : 'conv2d_fused';
        const producers = fused.filter((s): s is ScheduledOp<'matmul_fused' | 'conv2d_fused'> => s.op === producer);
        const epilogue = producers.find((s) => s.attrs.activation.kind === 'leaky_relu');
        expect(epilogue !== undefined, 'activation folded into the forward epilogue').toBe(alpha >= 0);
        expect(fused.some((s) => s.op === 'activation'), 'standalone forward activation').toBe(alpha < 0);
        if (name === 'Linear') {
          const matmuls = fused.filter((s): s is ScheduledOp<'matmul_fused'> => s.op === 'matmul_fused');
          const prologue = matmuls.filter((s) => s.attrs.prologue?.kind === 'leaky_relu');
          expect(prologue, 'leaky_relu derivative folded into the backward matmul').toHaveLength(1);
          expect(fused.some((s) => s.op === 'activation_backward')).toBe(false);
        }
      });
    }
  }

  it('leaves no buffers alive', () => {
    expect(engine().stats.liveBuffers).toBe(0);
  });
});
