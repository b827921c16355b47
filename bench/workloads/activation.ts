import type { Workload } from '../workload.js';
import { activationForward } from '../../src/kernels/activation.js';
import { tfjsFinish } from '../lib/tfjs.js';

const N = 1 << 20;

/** Deterministic inputs on both sides, half of them negative so relu does real work. */
function inputs(): Float32Array {
  const x = new Float32Array(N);
  for (let i = 0; i < N; i++) x[i] = ((i * 7919) % 2001) / 1000 - 1;
  return x;
}

/**
 * relu over 2^20 floats, counted as 1 flop per element. Memory-bound: it measures the cost of one
 * elementwise launch (bind group, uniforms, submit) as much as arithmetic.
 */
const reluMillion: Workload = {
  id: 'W0-relu-1m',
  unit: 'GFLOP/s',
  workPerRun: N,
  async ours(engine) {
    const x = engine.createStorage(N * 4, 'bench.x');
    const y = engine.createStorage(N * 4, 'bench.y');
    engine.upload(x, inputs());
    const spec = activationForward({ kind: 'relu' }, N);
    return {
      async run() {
        engine.dispatch(spec, [x, y]);
        await engine.sync();
      },
      dispose() {
        engine.buffers.destroy(x);
        engine.buffers.destroy(y);
      },
    };
  },
  async tfjs(tf) {
    const x = tf.tensor1d(inputs());
    return {
      async run() {
        const y = tf.relu(x);
        await tfjsFinish(tf);
        y.dispose();
      },
      dispose() {
        x.dispose();
      },
    };
  },
};

export default [reluMillion];
