import { describe, expect, it } from 'vitest';
import { gradients } from '../../src/graph/autodiff.js';
import { compileStep } from '../../src/graph/compile.js';
import { createGraph } from '../../src/graph/graph.js';
import type { Value } from '../../src/graph/ir.js';
import { ParameterStore } from '../../src/graph/params.js';
import { Flatten, Linear, ReLU, Sequential, Tanh } from '../../src/nn/layers.js';
import { Adam, SGD } from '../../src/optim/optimizers.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { useEngine } from '../helpers/engine.js';
import { expectClose } from '../helpers/compare.js';
import { integers, uniform } from '../helpers/random.js';
import { evaluate } from '../reference/graph.js';

const engine = useEngine();
const makeModel = () => new Sequential(new Linear(7, 9), ReLU(), new Linear(9, 5), Tanh(), new Linear(5, 3));

async function trainingStep(store: ParameterStore, model: Sequential, optimizer: SGD | Adam, batch = 6) {
  return compileStep(engine(), {
    inputs: { x: { shape: [batch, 7] }, labels: { shape: [batch], dtype: 'u32' } },
    stores: [store],
    build: (g, { x, labels }) => {
      const logits = model.apply(g, x, { store, training: true });
      const [loss, , correct] = g.apply('softmax_cross_entropy', [logits, labels], {});
      return { outputs: { loss, correct }, minimize: { loss, store, optimizer } };
    },
  });
}

describe('compiled step ordering', () => {
  it('runs right after compile on initialised parameters and the inputs it was given', async () => {
    const store = new ParameterStore(engine(), { seed: 11 });
    const model = new Sequential(new Linear(5, 3));
    model.register(store);
    // The parameters are allocated and initialised (by eager launches) while this step compiles.
    const step = await compileStep(engine(), {
      inputs: { x: { shape: [4, 5] } },
      stores: [store],
      build: (g, { x }) => ({ outputs: { y: model.apply(g, x, { store, training: false }) } }),
    });
    const x = uniform(20, 12);
    step.run({ x });
    const y = await step.read('y');
    const [w, b] = [await store.read('0.weight'), await store.read('0.bias')];
    expect(w.some((v) => v !== 0)).toBe(true);
    const expected = new Float64Array(12);
    for (let n = 0; n < 4; n++) for (let o = 0; o < 3; o++) {
      let sum = b[o];
      for (let i = 0; i < 5; i++) sum += x[n * 5 + i] * w[o * 5 + i];
      expected[n * 3 + o] = sum;
    }
    expectClose(y, expected, { atol: 1e-6, rtol: 1e-5 }, 'first run');
    step.dispose();
    store.dispose();
  });
});

describe('compiled training step', () => {
  it('applies exactly the SGD update of the float64 gradients', async () => {
    const store = new ParameterStore(engine(), { seed: 3 });
    const model = makeModel();
    model.register(store);
    expect(store.list.map((p) => p.name)).toEqual(['0.weight', '0.bias', '2.weight', '2.bias', '4.weight', '4.bias']);
    const step = await trainingStep(store, model, new SGD({ lr: 0.5 }));
    const x = uniform(42, 1);
    const labels = integers(6, 3, 2);
    const before = new Map<string, Float32Array>();
    for (const p of store.list) before.set(p.name, await store.read(p.name));

    step.run({ x, labels });
    const loss = (await step.read('loss'))[0];

    // The same model traced on a CPU graph, differentiated and evaluated in float64.
    const g = createGraph();
    const xv = g.input('x', [6, 7]);
    const lv = g.input('labels', [6], 'u32');
    const logits = model.apply(g, xv, { store, training: true });
    const [lossV] = g.apply('softmax_cross_entropy', [logits, lv], {});
    const grads = gradients(g, lossV, g.params);
    const feeds = new Map<Value, Float64Array>([[xv, Float64Array.from(x)], [lv, Float64Array.from(labels)]]);
    for (const p of g.params) feeds.set(p, Float64Array.from(before.get(p.name)!));
    const env = evaluate(g, feeds);
    expect(loss).toBeCloseTo(env.get(lossV)![0], 5);
    for (const p of g.params) {
      const expected = before.get(p.name)!.map((v, i) => v - 0.5 * env.get(grads.get(p)!)![i]);
      expectClose(await store.read(p.name), expected, { atol: 1e-6, rtol: 1e-5 }, p.name);
    }
    step.dispose();
    store.dispose();
  });

  it('learns, runs in one pass of few dispatches, and holds memory flat over many steps', async () => {
    const store = new ParameterStore(engine(), { seed: 5 });
    const model = makeModel();
    model.register(store);
    const step = await trainingStep(store, model, new Adam({ lr: 0.02 }), 16);
    const x = uniform(16 * 7, 9);
    const labels = integers(16, 3, 10);
    step.run({ x, labels });
    const first = (await step.read('loss'))[0];
    const buffers = engine().stats.liveBuffers;
    const bytes = engine().stats.liveBytes;
    for (let i = 0; i < 300; i++) step.run({ x, labels });
    const last = (await step.read('loss'))[0];
    expect(last).toBeLessThan(first * 0.5);
    expect((await step.read('correct'))[0]).toBeGreaterThanOrEqual(14);
    expect(engine().stats.liveBuffers).toBe(buffers);
    expect(engine().stats.liveBytes).toBe(bytes);
    expect(step.step).toBe(301);
    // 3 forward matmuls, 1 loss, 3 weight gradients (with bias gradients), 2 input gradients, 1 finite
    // check of the loss and gradients, 1 update.
    expect(step.stats.dispatches).toBe(11);
    step.dispose();
    store.dispose();
  });

  it("keeps Adam's step count with the store: a new step continues it, write() spends none, reinitialise resets it", async () => {
    const x = uniform(6 * 7, 21);
    const labels = integers(6, 3, 22);
    const setup = () => {
      const store = new ParameterStore(engine(), { seed: 8 });
      const model = makeModel();
      model.register(store);
      return { store, model };
    };
    const read = (store: ParameterStore) => Promise.all(store.list.map((p) => store.read(p.name)));
    // Three updates by one step, against one update each by three steps compiled in turn.
    const one = setup();
    const step = await trainingStep(one.store, one.model, new Adam({ lr: 0.05 }));
    step.write({ x, labels });
    expect(one.store.optimizerSteps).toBe(0);
    for (let i = 0; i < 3; i++) step.run();
    const three = setup();
    for (let i = 0; i < 3; i++) {
      const s = await trainingStep(three.store, three.model, new Adam({ lr: 0.05 }));
      s.run({ x, labels });
      await engine().device.queue.onSubmittedWorkDone();
      s.dispose();
    }
    expect([one.store.optimizerSteps, three.store.optimizerSteps, step.step]).toEqual([3, 3, 3]);
    const [a, b] = [await read(one.store), await read(three.store)];
    a.forEach((t, i) => expectClose(b[i], t, { atol: 1e-6, rtol: 1e-5 }));
    three.store.reinitialise();
    await engine().flush();
    expect(three.store.optimizerSteps).toBe(0);
    step.dispose();
    one.store.dispose();
    three.store.dispose();
  });

  it('raises shape errors naming the layer while tracing, before any GPU work', async () => {
    const store = new ParameterStore(engine(), { seed: 1 });
    const model = new Sequential(new Linear(784, 256), ReLU(), new Linear(256, 10));
    model.register(store);
    const trace = (shape: number[]) =>
      compileStep(engine(), {
        inputs: { x: { shape } },
        stores: [store],
        build: (g, { x }) => ({ outputs: { y: model.apply(g, x, { store, training: false }) } }),
      });
    await expect(trace([128, 785])).rejects.toThrow(ShapeError);
    await expect(trace([128, 785])).rejects.toThrow(/Linear\(784→256\) got input \[128, 785\]: expected \[batch, 784\]/);
    await expect(trace([2, 1, 28, 28])).rejects.toThrow(/add a Flatten layer/);
    const ok = await compileStep(engine(), {
      inputs: { x: { shape: [2, 1, 28, 28] } },
      stores: [store],
      build: (g, { x }) => ({ outputs: { y: new Sequential(new Flatten(), model).apply(g, x, { store, training: false }) } }),
    });
    ok.run({ x: new Float32Array(2 * 784) });
    expect((await ok.read('y')).length).toBe(20);
    expect(() => ok.run({ x: new Float32Array(3) })).toThrow(/input 'x' \[2, 1, 28, 28\] takes 1568 values, got 3/);
    ok.dispose();
    store.dispose();
  });

  it('leaves no buffers alive', () => {
    expect(engine().stats.liveBuffers).toBe(0);
  });
});
