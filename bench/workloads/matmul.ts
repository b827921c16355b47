import type * as TF from '@tensorflow/tfjs';
import type { Engine } from '../../src/gpu/engine.js';
import { encodeLaunch, makeLaunch, type Launch } from '../../src/gpu/launch.js';
import {
  matmulCandidates,
  matmulConfig,
  matmulProgram,
  matmulShapeClass,
  matmulTuneBufferBytes,
  matmulTuneCandidate,
  type MatmulParams,
} from '../../src/kernels/matmul.js';
import { tfjsFinish } from '../lib/tfjs.js';
import type { Runner, Workload } from '../workload.js';

/** Deterministic values in [-1, 1), the same on both sides. */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/**
 * One matmul ready to replay: tuned configuration, pipelines, uniform and scratch buffers and bind
 * groups all made once, so a run costs only encoding and the GPU work.
 */
interface Prepared {
  encode(pass: GPUComputePassEncoder): void;
  dispose(): void;
}

async function prepare(engine: Engine, p: MatmulParams, io: GPUBuffer[]): Promise<Prepared> {
  const candidates = matmulCandidates(p);
  const [, , partialBytes, outBytes] = matmulTuneBufferBytes(p, candidates);
  const tuneOut = [engine.createStorage(partialBytes, 'bench.tune partials'), engine.createStorage(outBytes, 'bench.tune out')];
  const tune = candidates.map((c) => matmulTuneCandidate(p, c));
  const id = await engine.tuner
    .tuneNow(matmulShapeClass(p), tune, [io[0], io[1], ...tuneOut])
    .finally(() => tuneOut.forEach((b) => engine.buffers.destroy(b)));
  const program = matmulProgram(p, matmulConfig(id));
  const owned: GPUBuffer[] = program.scratch.map((bytes, i) => engine.createStorage(bytes, `bench.scratch${i}`));
  const scratch = [...owned];
  const steps: Launch[] = [];
  for (const { spec, args } of program.launches) {
    steps.push(await makeLaunch(engine, spec, args.map((a) => ('io' in a ? io[a.io] : scratch[a.scratch])), owned));
  }
  return {
    encode(pass) {
      for (const s of steps) encodeLaunch(pass, s);
    },
    dispose() {
      for (const b of owned) engine.buffers.destroy(b);
    },
  };
}

/** Records every prepared matmul into one compute pass, submits, and waits for the GPU. */
function runner(engine: Engine, prepared: Prepared[], buffers: GPUBuffer[]): Runner {
  return {
    async run() {
      const encoder = engine.device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      for (const p of prepared) p.encode(pass);
      pass.end();
      engine.device.queue.submit([encoder.finish()]);
      await engine.device.queue.onSubmittedWorkDone();
    },
    dispose() {
      for (const p of prepared) p.dispose();
      for (const b of buffers) engine.buffers.destroy(b);
    },
  };
}

function upload(engine: Engine, data: Float32Array, label: string): GPUBuffer {
  const b = engine.createStorage(data.byteLength, label);
  engine.upload(b, data);
  return b;
}

function square(n: number): Workload {
  return {
    id: `W1-matmul-${n}`,
    unit: 'GFLOP/s',
    workPerRun: 2 * n * n * n,
    async ours(engine) {
      const a = upload(engine, values(n * n, 1), 'bench.a');
      const b = upload(engine, values(n * n, 2), 'bench.b');
      const c = engine.createStorage(n * n * 4, 'bench.c');
      const p = await prepare(engine, { batch: 1, M: n, N: n, K: n, transA: false, transB: false }, [a, b, c]);
      return runner(engine, [p], [a, b, c]);
    },
    async tfjs(tf) {
      const a = tf.tensor2d(values(n * n, 1), [n, n]);
      const b = tf.tensor2d(values(n * n, 2), [n, n]);
      return {
        async run() {
          const c = tf.matMul(a, b);
          await tfjsFinish(tf);
          c.dispose();
        },
        dispose() {
          a.dispose();
          b.dispose();
        },
      };
    },
  };
}

/** The MLP 784→256→256→10 at batch 128: layer l maps width[l] to width[l + 1]. */
const BATCH = 128;
const WIDTHS = [784, 256, 256, 10];

/**
 * Per layer (W stored [in, out], X its input [batch, in], dY the gradient at its output):
 * dX = dY·Wᵀ, times relu'(X) where X is a hidden activation (fused prologue), and dW = Xᵀ·dY.
 * Each is 2·M·N·K flops, with {M, N, K} = {batch, in, out} in some order.
 */
const backwardFlops = WIDTHS.slice(0, -1).reduce((s, fanIn, l) => s + 2 * 2 * BATCH * fanIn * WIDTHS[l + 1], 0);

/** Layer inputs X_l [batch, in] (post-relu for hidden layers), output gradients dY_l, weights W_l. */
function mlpData(l: number) {
  const [fanIn, fanOut] = [WIDTHS[l], WIDTHS[l + 1]];
  const x = values(BATCH * fanIn, 10 + l);
  if (l > 0) for (let i = 0; i < x.length; i++) x[i] = Math.max(0, x[i]);
  return { x, dy: values(BATCH * fanOut, 20 + l), w: values(fanIn * fanOut, 30 + l), fanIn, fanOut };
}

const backward: Workload = {
  id: 'W1-matmul-backward',
  unit: 'GFLOP/s',
  workPerRun: backwardFlops,
  // One compute pass with all six products, layer by layer from the output, as a training step runs them.
  async ours(engine) {
    const buffers: GPUBuffer[] = [];
    const prepared: Prepared[] = [];
    const keep = (b: GPUBuffer) => (buffers.push(b), b);
    for (let l = WIDTHS.length - 2; l >= 0; l--) {
      const d = mlpData(l);
      const [x, dy, w] = [keep(upload(engine, d.x, 'bench.x')), keep(upload(engine, d.dy, 'bench.dy')), keep(upload(engine, d.w, 'bench.w'))];
      const dx = keep(engine.createStorage(BATCH * d.fanIn * 4, 'bench.dx'));
      const dw = keep(engine.createStorage(d.fanIn * d.fanOut * 4, 'bench.dw'));
      const hidden = l > 0;
      const dxParams: MatmulParams = { batch: 1, M: BATCH, N: d.fanIn, K: d.fanOut, transA: false, transB: true, prologue: hidden ? { kind: 'relu' } : undefined };
      prepared.push(await prepare(engine, dxParams, hidden ? [dy, w, x, dx] : [dy, w, dx]));
      prepared.push(await prepare(engine, { batch: 1, M: d.fanIn, N: d.fanOut, K: BATCH, transA: true, transB: false }, [x, dy, dw]));
    }
    return runner(engine, prepared, buffers);
  },
  async tfjs(tf: typeof TF) {
    const layers: { x: TF.Tensor2D; dy: TF.Tensor2D; w: TF.Tensor2D; mask?: TF.Tensor2D }[] = [];
    for (let l = WIDTHS.length - 2; l >= 0; l--) {
      const d = mlpData(l);
      const x = tf.tensor2d(d.x, [BATCH, d.fanIn]);
      // relu'(X) made once, as our kernel reads the saved activation: TF.js then pays one multiply.
      layers.push({ x, dy: tf.tensor2d(d.dy, [BATCH, d.fanOut]), w: tf.tensor2d(d.w, [d.fanIn, d.fanOut]), mask: l > 0 ? tf.step(x) as TF.Tensor2D : undefined });
    }
    return {
      async run() {
        const out: TF.Tensor[] = [];
        for (const { x, dy, w, mask } of layers) {
          const dx = tf.matMul(dy, w, false, true);
          out.push(dx);
          if (mask) out.push(tf.mul(dx, mask));
          out.push(tf.matMul(x, dy, true, false));
        }
        await tfjsFinish(tf);
        for (const t of out) t.dispose();
      },
      dispose() {
        for (const l of layers) for (const t of [l.x, l.dy, l.w, l.mask]) t?.dispose();
      },
    };
  },
};

export default [square(256), square(512), square(1024), square(2048), backward];
