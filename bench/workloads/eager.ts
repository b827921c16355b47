import type * as TF from '@tensorflow/tfjs';
import type { Runner, Workload } from '../workload.js';
import { relu } from '../../src/eager/activation.js';
import { add, scale } from '../../src/eager/elementwise.js';
import { matmul } from '../../src/eager/matmul.js';
import { tensor, type Tensor } from '../../src/eager/tensor.js';
import type { Engine } from '../../src/gpu/engine.js';
import { compileStep } from '../../src/graph/compile.js';
import type { Value } from '../../src/graph/ir.js';
import { ParameterStore } from '../../src/graph/params.js';
import { median } from '../lib/workloads.js';
import { tfjsFinish } from '../lib/tfjs.js';

// The eager API, op by op, in both engines: what an app that never compiles a step pays per op.

/** Deterministic values in [-scale, scale). */
function values(n: number, seed: number, range = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = ((((i + 1) * 7919 * seed) % 2003) / 1001.5 - 1) * range;
  return out;
}

const MLP = [784, 256, 256, 10];
/** Forward passes per timed run: enough that a run is not one submit's latency. */
const FORWARDS = 10;

/** MLP 784→256→256→10 inference written with eager ops: matmul, add (bias), relu. */
function eagerMlp(batch: number): Workload {
  const layers = MLP.slice(1).map((out, i) => ({ w: values(MLP[i] * out, 3 + i, 1 / Math.sqrt(MLP[i])), b: values(out, 7 + i, 0.1), in: MLP[i], out }));
  const input = values(batch * MLP[0], 11);
  return {
    id: `W0-eager-mlp-b${batch}`,
    unit: 'samples/s',
    workPerRun: batch * FORWARDS,
    async ours(engine) {
      const x = tensor(engine, input, [batch, MLP[0]]);
      const params = layers.map((l) => ({ w: tensor(engine, l.w, [l.in, l.out]), b: tensor(engine, l.b, [l.out]) }));
      await engine.flush();
      const forward = () =>
        engine.scope(() => {
          let h: Tensor = x;
          params.forEach((p, i) => {
            const z = add(matmul(h, p.w), p.b);
            h = i < params.length - 1 ? relu(z) : z;
          });
          return h;
        });
      return {
        async run() {
          for (let i = 0; i < FORWARDS; i++) forward().dispose();
          await engine.sync();
        },
        dispose() {
          for (const t of [x, ...params.flatMap((p) => [p.w, p.b])]) t.dispose();
        },
      };
    },
    async tfjs(tf) {
      const x = tf.tensor2d(input, [batch, MLP[0]]);
      const params = layers.map((l) => ({ w: tf.tensor2d(l.w, [l.in, l.out]), b: tf.tensor1d(l.b) }));
      const forward = () =>
        tf.tidy(() => {
          let h: TF.Tensor = x;
          params.forEach((p, i) => {
            const z = tf.add(tf.matMul(h as TF.Tensor2D, p.w), p.b);
            h = i < params.length - 1 ? tf.relu(z) : z;
          });
          return h;
        });
      return {
        async run() {
          for (let i = 0; i < FORWARDS; i++) forward().dispose();
          await tfjsFinish(tf);
        },
        dispose() {
          for (const t of [x, ...params.flatMap((p) => [p.w, p.b])]) t.dispose();
        },
      };
    },
  };
}

const SIDE = 64;
/** Ops per run: 50 rounds of matmul, add, relu, scale on 64×64. */
const CHAIN_ROUNDS = 50;
const CHAIN_OPS = CHAIN_ROUNDS * 4;

/** The same 200 ops as one compiled step (no fusion, so it runs the same 200 dispatches). */
async function compiledChainUsPerOp(engine: Engine, x: Float32Array, w: Float32Array): Promise<number> {
  const store = new ParameterStore(engine, { seed: 1 });
  const step = await compileStep(engine, {
    inputs: { x: { shape: [SIDE, SIDE] }, w: { shape: [SIDE, SIDE] } },
    stores: [store],
    fuse: false,
    build: (g, inputs) => {
      let y: Value = inputs.x;
      for (let i = 0; i < CHAIN_ROUNDS; i++) {
        y = g.apply('matmul', [y, inputs.w], { transA: false, transB: false })[0];
        y = g.apply('add', [y, inputs.x], {})[0];
        y = g.apply('activation', [y], { activation: { kind: 'relu' } })[0];
        y = g.apply('scale', [y], { scale: 0.5, shift: 0 })[0];
      }
      return { outputs: { y } };
    },
  });
  try {
    step.run({ x, w });
    await step.read('y');
    const times: number[] = [];
    for (let i = 0; i < 7; i++) {
      const start = performance.now();
      step.run();
      await step.read('y');
      times.push(performance.now() - start);
    }
    return (median(times) * 1000) / CHAIN_OPS;
  } finally {
    step.dispose();
    store.dispose();
  }
}

/**
 * 200 eager ops (matmul, add, relu, scale) on 64×64 and one read at the end: the per-op cost of
 * the eager path. `iterations/s` counts ops; µs/op = 1e6 / rate. Ours also reports the same ops
 * run as one compiled step (`compiledUsPerOp`), the floor the eager path is measured against.
 */
const eagerChain: Workload = {
  id: 'W0-eager-chain',
  unit: 'iterations/s',
  workPerRun: CHAIN_OPS,
  async ours(engine): Promise<Runner> {
    const xs = values(SIDE * SIDE, 5);
    const ws = values(SIDE * SIDE, 6, 1 / SIDE);
    const compiledUsPerOp = await compiledChainUsPerOp(engine, xs, ws);
    const x = tensor(engine, xs, [SIDE, SIDE]);
    const w = tensor(engine, ws, [SIDE, SIDE]);
    return {
      async run() {
        const y = engine.scope(() => {
          let y: Tensor = x;
          for (let i = 0; i < CHAIN_ROUNDS; i++) y = scale(relu(add(matmul(y, w), x)), 0.5);
          return y;
        });
        await y.read();
        y.dispose();
      },
      dispose() {
        x.dispose();
        w.dispose();
      },
      extra: () => ({ compiledUsPerOp }),
    };
  },
  async tfjs(tf) {
    const x = tf.tensor2d(values(SIDE * SIDE, 5), [SIDE, SIDE]);
    const w = tf.tensor2d(values(SIDE * SIDE, 6, 1 / SIDE), [SIDE, SIDE]);
    return {
      async run() {
        const y = tf.tidy(() => {
          let y: TF.Tensor2D = x;
          for (let i = 0; i < CHAIN_ROUNDS; i++) y = tf.mul(tf.relu(tf.add(tf.matMul(y, w), x)), 0.5);
          return y;
        });
        await y.data();
        y.dispose();
      },
      dispose() {
        x.dispose();
        w.dispose();
      },
    };
  },
};

export default [eagerMlp(1), eagerMlp(64), eagerChain];
