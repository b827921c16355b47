import { describe, expect, it } from 'vitest';
import { gradients } from '../../src/graph/autodiff.js';
import { compileStep } from '../../src/graph/compile.js';
import { createGraph } from '../../src/graph/graph.js';
import type { Graph, Value } from '../../src/graph/ir.js';
import { ParameterStore } from '../../src/graph/params.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { resnet } from '../../src/models/resnet.js';
import { crossEntropy } from '../../src/nn/cross_entropy.js';
import { SGD } from '../../src/optim/optimizers.js';
import { expectClose } from '../helpers/compare.js';
import { useEngine } from '../helpers/engine.js';
import { integers, uniform } from '../helpers/random.js';
import { evaluate } from '../reference/graph.js';

const engine = useEngine();
const f64 = (a: ArrayLike<number>) => Float64Array.from(a);
// The smallest CIFAR ResNet (one block per stage), two channels wide, on 8×8 RGB: every kind of
// block is there (identity, and strided with a zero-padded shortcut) at a size float64 can check.
const TINY = { depth: 8, width: 2 } as const;
const [B, H] = [4, 8];

function tinyModel(seed = 5) {
  const model = resnet(TINY);
  const store = new ParameterStore(engine(), { seed });
  model.register(store);
  return { model, store };
}

/** The model's cross-entropy on [B, 3, H, H] inputs in training mode (batch statistics), built on `g`. */
function lossGraph(g: Graph, store: ParameterStore, model: ReturnType<typeof resnet>) {
  const x = g.input('x', [B, 3, H, H]);
  const y = g.input('y', [B], 'u32');
  const { loss } = crossEntropy(g, model.apply(g, x, { store, training: true }), y);
  return { x, y, loss };
}

const xData = uniform(B * 3 * H * H, 17, -2, 2);
const yData = Uint32Array.from(integers(B, 10, 4));

describe('resnet', () => {
  it('names its parameters and buffers as the torch module does, with option-A shortcuts holding none', () => {
    const { store } = tinyModel();
    const names = store.stateDict.map((e) => `${e.name} [${e.shape.join(', ')}]`);
    const bn = (p: string, c: number) => ['weight', 'bias'].map((k) => `${p}.${k} [${c}]`);
    const block = (p: string, from: number, to: number) => [`${p}.conv1.weight [${to}, ${from}, 3, 3]`, ...bn(`${p}.bn1`, to), `${p}.conv2.weight [${to}, ${to}, 3, 3]`, ...bn(`${p}.bn2`, to)];
    const params = ['conv1.weight [2, 3, 3, 3]', ...bn('bn1', 2), ...block('layer1.0', 2, 2), ...block('layer2.0', 2, 4), ...block('layer3.0', 4, 8), 'fc.weight [10, 8]', 'fc.bias [10]'];
    expect(names.slice(0, params.length)).toEqual(params);
    expect(names.slice(params.length)).toContain('layer3.0.bn2.running_var [8]');
    expect(names).toHaveLength(params.length + 7 * 3);
    store.dispose();
  });

  it('ResNet-20 has the paper’s 0.27M parameters and He-initialised convolutions', async () => {
    const model = resnet({ depth: 20 });
    const store = new ParameterStore(engine(), { seed: 1 });
    model.register(store);
    // He et al., Table 6: 0.27M. By hand: stem 432 + 32; stage 1: 3 × (2·2304 + 64); stage 2:
    // 4608 + 9216 + 128, then 2 × (2·9216 + 128); stage 3: 18432 + 36864 + 256, then
    // 2 × (2·36864 + 256); fc 650 — 269,722 (batch-norm affines included, the shortcuts none).
    expect(store.count).toBe(269722);
    const w = await store.read('layer3.2.conv2.weight');
    const std = Math.sqrt(w.reduce((a, v) => a + v * v, 0) / w.length);
    expect(std / Math.sqrt(2 / (64 * 9))).toBeGreaterThan(0.95);
    expect(std / Math.sqrt(2 / (64 * 9))).toBeLessThan(1.05);
    store.dispose();
  });

  it('gradients of the whole graph match central differences of the float64 interpreter', async () => {
    const { model, store } = tinyModel();
    const g = createGraph();
    const { x, y, loss } = lossGraph(g, store, model);
    const end = g.nodes.length;
    const wrt = [x, ...g.params.filter((p) => !store.isBuffer(p.name))];
    const grads = gradients(g, loss, wrt);
    const feeds = new Map<Value, Float64Array>([[x, f64(xData)], [y, f64(yData)]]);
    for (const p of g.params) feeds.set(p, f64(await store.read(p.name)));
    const env = evaluate(g, feeds);
    const at = (v: Value, i: number, delta: number) => {
      const moved = Float64Array.from(feeds.get(v)!);
      moved[i] += delta;
      return evaluate(g, new Map(feeds).set(v, moved), end).get(loss)![0];
    };
    let checked = 0;
    for (const v of wrt) {
      const analytic = env.get(grads.get(v)!)!;
      // A spread of entries of every tensor (all of the small ones): enough to catch a wrong rule.
      const step = Math.max(1, Math.floor(v.size / 7));
      for (let i = 0; i < v.size; i += step) {
        const eps = 1e-5;
        const numeric = (at(v, i, eps) - at(v, i, -eps)) / (2 * eps);
        expect(Math.abs(analytic[i] - numeric), `${v.name}[${i}]: autodiff ${analytic[i]}, differences ${numeric}`).toBeLessThan(1e-6 + 1e-4 * Math.abs(numeric));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(100);
    store.dispose();
  });

  it('one compiled SGD step on the GPU moves every parameter as the float64 gradients say', async () => {
    const { model, store } = tinyModel(9);
    const step = await compileStep(engine(), {
      inputs: { x: { shape: [B, 3, H, H] }, y: { shape: [B], dtype: 'u32' } },
      stores: [store],
      build: (g, inputs) => {
        const { loss } = crossEntropy(g, model.apply(g, inputs.x, { store, training: true }), inputs.y);
        return { outputs: { loss }, minimize: { loss, store, optimizer: new SGD({ lr: 0.1 }) } };
      },
    });
    const before = new Map<string, Float32Array>();
    for (const p of store.stateDict) before.set(p.name, await store.read(p.name));
    step.run({ x: xData, y: yData });
    const g = createGraph();
    const { x, y, loss } = lossGraph(g, store, model);
    const trainable = g.params.filter((p) => !store.isBuffer(p.name));
    const grads = gradients(g, loss, trainable);
    const feeds = new Map<Value, Float64Array>([[x, f64(xData)], [y, f64(yData)]]);
    for (const p of g.params) feeds.set(p, f64(before.get(p.name)!));
    const env = evaluate(g, feeds);
    expect((await step.read('loss'))[0]).toBeCloseTo(env.get(loss)![0], 4);
    for (const p of trainable) {
      const want = before.get(p.name)!.map((v, i) => v - 0.1 * env.get(grads.get(p)!)![i]);
      expectClose(await store.read(p.name), want, { atol: 3e-5, rtol: 1e-4 }, p.name);
    }
    step.dispose();
    store.dispose();
  });

  it('refuses a depth that is not 6n + 2 and inputs of the wrong channel count', () => {
    for (const depth of [18, 2, 20.5]) expect(() => resnet({ depth })).toThrow(/resnet: depth .* must be 6n \+ 2 .* e\.g\. 20, 32 or 56/);
    expect(() => resnet({ depth: 20, width: 0 })).toThrow(ShapeError);
    const { model, store } = tinyModel();
    const g = createGraph();
    expect(() => model.apply(g, g.input('x', [2, 1, 8, 8]), { store, training: true })).toThrow(/ResNet\(depth=8, width=2, classes=10\) got input \[2, 1, 8, 8\]: expected \[batch, 3, height, width\]/);
    store.dispose();
  });

  it('leaves no buffers alive', () => {
    expect(engine().stats.liveBuffers).toBe(0);
  });
});
