import type * as TF from '@tensorflow/tfjs';
import type { TuneCandidate } from '../../src/gpu/autotune.js';
import type { Engine } from '../../src/gpu/engine.js';
import { encodeLaunch, makeLaunch, type Launch } from '../../src/gpu/launch.js';
import {
  conv2dBackwardDataProgram,
  conv2dBackwardDataTuning,
  conv2dBackwardFilterProgram,
  conv2dBackwardFilterTuning,
  conv2dParams,
  conv2dProgram,
  conv2dTuning,
  type Conv2dParams,
  type ConvFilterConfig,
  type ConvGemmConfig,
} from '../../src/kernels/conv2d.js';
import type { KernelProgram } from '../../src/gpu/kernel_spec.js';
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

/** NCHW [n, c, h, w] data as TF.js's NHWC layout. */
function toNHWC(data: Float32Array, [n, c, h, w]: readonly number[]): Float32Array {
  const out = new Float32Array(data.length);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let i = 0; i < h * w; i++) out[(b * h * w + i) * c + ch] = data[(b * c + ch) * h * w + i];
  return out;
}

/** PyTorch's [Cout, Cin, KH, KW] weight as TF.js's [KH, KW, Cin, Cout] filter. */
function toHWIO(data: Float32Array, [cout, cin, kh, kw]: readonly number[]): Float32Array {
  const out = new Float32Array(data.length);
  for (let o = 0; o < cout; o++)
    for (let i = 0; i < cin; i++)
      for (let t = 0; t < kh * kw; t++) out[(t * cin + i) * cout + o] = data[(o * cin + i) * kh * kw + t];
  return out;
}

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** The project's MNIST CNN at batch 64: two 3×3 valid convolutions with bias and ReLU. */
const BATCH = 64;
const LAYERS = [
  { name: 'conv-1', input: [BATCH, 1, 28, 28], weight: [32, 1, 3, 3] },
  { name: 'conv-2', input: [BATCH, 32, 26, 26], weight: [64, 32, 3, 3] },
];
type Layer = (typeof LAYERS)[number];
type Pass = 'forward' | 'backward-data' | 'backward-filter';

function shapes(layer: Layer) {
  const [n, , h, w] = layer.input;
  const [cout, cin, kh, kw] = layer.weight;
  const output = [n, cout, h - kh + 1, w - kw + 1];
  return { output, flops: 2 * n * cout * output[2] * output[3] * cin * kh * kw };
}

/**
 * A program replayed with its pipelines, uniform and scratch buffers and bind groups made once,
 * after the tuner picked its configuration on these very buffers.
 */
async function prepare(engine: Engine, program: KernelProgram, io: GPUBuffer[]) {
  const owned = program.scratch.map((bytes, i) => engine.createStorage(bytes, `bench.scratch${i}`));
  const scratch = [...owned];
  const steps: Launch[] = [];
  for (const { spec, args } of program.launches) {
    steps.push(await makeLaunch(engine, spec, args.map((a) => ('io' in a ? io[a.io] : scratch[a.scratch])), owned));
  }
  return {
    async run() {
      const encoder = engine.device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      for (const s of steps) encodeLaunch(pass, s);
      pass.end();
      engine.device.queue.submit([encoder.finish()]);
      await engine.device.queue.onSubmittedWorkDone();
    },
    dispose() {
      for (const b of [...owned, ...io]) engine.buffers.destroy(b);
    },
  };
}

function upload(engine: Engine, data: Float32Array, label: string): GPUBuffer {
  const b = engine.createStorage(data.byteLength, label);
  engine.upload(b, data);
  return b;
}

async function choose(engine: Engine, shapeClass: string, candidates: TuneCandidate[], buffers: GPUBuffer[]): Promise<string> {
  return engine.tuner.tuneNow(shapeClass, candidates, buffers);
}

async function ours(engine: Engine, layer: Layer, pass: Pass): Promise<Runner> {
  const { output } = shapes(layer);
  const p: Conv2dParams = conv2dParams(layer.input, layer.weight, { bias: pass !== 'backward-data', activation: { kind: 'relu' } });
  const x = upload(engine, values(size(layer.input), 1), 'bench.x');
  const w = upload(engine, values(size(layer.weight), 2), 'bench.w');
  if (pass === 'forward') {
    const b = upload(engine, values(layer.weight[0], 3), 'bench.b');
    const y = engine.createStorage(size(output) * 4, 'bench.y');
    const { shapeClass, candidates } = conv2dTuning(p);
    const config = (await choose(engine, shapeClass, candidates, [x, w, b, y])) as ConvGemmConfig;
    return prepare(engine, conv2dProgram(p, config), [x, w, b, y]);
  }
  const dy = upload(engine, values(size(output), 4), 'bench.dy');
  if (pass === 'backward-data') {
    engine.buffers.destroy(x);
    const dx = engine.createStorage(size(layer.input) * 4, 'bench.dx');
    const { shapeClass, candidates } = conv2dBackwardDataTuning(p);
    const config = (await choose(engine, shapeClass, candidates, [dy, w, dx])) as ConvGemmConfig;
    return prepare(engine, conv2dBackwardDataProgram(p, config), [dy, w, dx]);
  }
  engine.buffers.destroy(w);
  const dw = engine.createStorage(size(layer.weight) * 4, 'bench.dw');
  const db = engine.createStorage(layer.weight[0] * 4, 'bench.db');
  const tuning = conv2dBackwardFilterTuning(p);
  const scratch = engine.createStorage(tuning.tuneBytes[0], 'bench.tune');
  const config = (await choose(engine, tuning.shapeClass, tuning.candidates, [dy, x, scratch, dw]).finally(() =>
    engine.buffers.destroy(scratch),
  )) as ConvFilterConfig;
  return prepare(engine, conv2dBackwardFilterProgram(p, config), [x, dy, dw, db]);
}

/**
 * TF.js on its preferred NHWC layout: fused conv2d+bias+relu forward; for the backward passes the
 * kernels its own Conv2D gradient runs (Conv2DBackpropInput through the public conv2dTranspose,
 * Conv2DBackpropFilter through the engine, as that op is not exported), plus the bias sum.
 */
async function tfjs(tf: typeof TF, layer: Layer, pass: Pass): Promise<Runner> {
  const { output } = shapes(layer);
  const [n, cin, h, w] = layer.input;
  const [cout, , kh, kw] = layer.weight;
  const x = tf.tensor4d(toNHWC(values(size(layer.input), 1), layer.input), [n, h, w, cin]);
  const filter = tf.tensor4d(toHWIO(values(size(layer.weight), 2), layer.weight), [kh, kw, cin, cout]);
  const bias = tf.tensor1d(values(cout, 3));
  const dy = tf.tensor4d(toNHWC(values(size(output), 4), output), [n, output[2], output[3], cout]);
  const work: Record<Pass, () => TF.Tensor[]> = {
    forward: () => [tf.fused.conv2d({ x, filter, bias, strides: 1, pad: 'valid', activation: 'relu' })],
    'backward-data': () => [tf.conv2dTranspose(dy, filter, [n, h, w, cin], 1, 'valid')],
    'backward-filter': () => [
      tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: 1, pad: 'valid', dataFormat: 'NHWC', filterShape: [kh, kw, cin, cout] }) as TF.Tensor,
      tf.sum(dy, [0, 1, 2]),
    ],
  };
  return {
    async run() {
      const out = work[pass]();
      await tfjsFinish(tf);
      for (const t of out) t.dispose();
    },
    dispose() {
      for (const t of [x, filter, bias, dy]) t.dispose();
    },
  };
}

function workload(layer: Layer, pass: Pass): Workload {
  return {
    id: `W1-${layer.name}-${pass}`,
    unit: 'GFLOP/s',
    workPerRun: shapes(layer).flops,
    ours: (engine) => ours(engine, layer, pass),
    tfjs: (tf) => tfjs(tf, layer, pass),
  };
}

export default [
  workload(LAYERS[0], 'forward'),
  workload(LAYERS[0], 'backward-filter'),
  workload(LAYERS[1], 'forward'),
  workload(LAYERS[1], 'backward-data'),
  workload(LAYERS[1], 'backward-filter'),
];
