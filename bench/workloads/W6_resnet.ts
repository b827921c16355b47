import type * as TF from '@tensorflow/tfjs';
import type { Engine } from '../../src/gpu/engine.js';
import { compileStep } from '../../src/graph/compile.js';
import { ParameterStore } from '../../src/graph/params.js';
import { resnet } from '../../src/models/resnet.js';
import { SGD } from '../../src/optim/optimizers.js';
import { checkLosses } from '../data/training.js';
import { tfjsResnet } from '../lib/tfjs_resnet.js';
import { tfjsFinish } from '../lib/tfjs.js';
import type { Runner, Workload } from '../workload.js';

const SIDE = 32;
const CHANNELS = 3;
const CLASSES = 10;
const SGD_CONFIG = { lr: 0.1, momentum: 0.9 };
const SETUP_STEPS = 2;

interface ResNetShape {
  id: string;
  depth: number;
  batch: number;
  steps: number;
}

/**
 * One batch of random images in [-1, 1) with random labels, the same on both sides (NCHW for ours,
 * NHWC for TF.js). The step's time does not depend on the pixel values; it is uploaded once, so
 * neither side pays a per-step upload.
 */
function batchOf(s: ResNetShape): { nchw: Float32Array; nhwc: Float32Array; labels: Uint32Array } {
  let state = 0x2545f491;
  const random = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  const nchw = new Float32Array(s.batch * CHANNELS * SIDE * SIDE).map(() => 2 * random() - 1);
  const nhwc = new Float32Array(nchw.length);
  for (let b = 0; b < s.batch; b++)
    for (let c = 0; c < CHANNELS; c++)
      for (let p = 0; p < SIDE * SIDE; p++) nhwc[(b * SIDE * SIDE + p) * CHANNELS + c] = nchw[(b * CHANNELS + c) * SIDE * SIDE + p];
  const labels = new Uint32Array(s.batch).map(() => Math.floor(random() * CLASSES));
  return { nchw, nhwc, labels };
}

/** Ours: one compiled step (forward with batch norm in training mode, cross-entropy, backward, SGD with momentum). */
async function ours(engine: Engine, s: ResNetShape): Promise<Runner> {
  const data = batchOf(s);
  const store = new ParameterStore(engine, { seed: 1 });
  const model = resnet({ depth: s.depth });
  model.register(store);
  const optimizer = new SGD(SGD_CONFIG);
  let step: Awaited<ReturnType<typeof compileStep<'x' | 'labels'>>> | undefined;
  try {
    step = await compileStep(engine, {
      inputs: { x: { shape: [s.batch, CHANNELS, SIDE, SIDE] }, labels: { shape: [s.batch], dtype: 'u32' } },
      stores: [store],
      build: (g, { x, labels }) => {
        const [loss] = g.apply('softmax_cross_entropy', [model.apply(g, x, { store, training: true }), labels], {});
        return { outputs: { loss }, minimize: { loss, store, optimizer } };
      },
    });
    const compiled = step;
    const losses: number[] = [];
    for (let i = 0; i < SETUP_STEPS; i++) {
      // The first step uploads the batch; later ones train on the inputs left in place.
      compiled.run(i === 0 ? { x: data.nchw, labels: data.labels } : {});
      losses.push((await compiled.read('loss'))[0]);
    }
    checkLosses(s.id, 'webgpu-dl', losses);
    const extra = { planDispatches: compiled.stats.dispatches, gpuBytes: compiled.stats.bytes + store.bytes, firstLoss: losses[0] };
    return {
      async run() {
        for (let i = 0; i < s.steps; i++) compiled.run();
        await engine.device.queue.onSubmittedWorkDone();
      },
      dispose() {
        compiled.dispose();
        store.dispose();
      },
      extra: () => extra,
    };
  } catch (e) {
    step?.dispose();
    store.dispose();
    throw e;
  }
}

/** TF.js: the same network written with ops (`tfjsResnet`), `optimizer.minimize` with tf.train.momentum. */
async function tfjs(tf: typeof TF, s: ResNetShape): Promise<Runner> {
  const data = batchOf(s);
  const model = tfjsResnet(tf, { depth: s.depth, width: 16, classes: CLASSES, channels: CHANNELS });
  const optimizer = tf.train.momentum(SGD_CONFIG.lr, SGD_CONFIG.momentum);
  const x = tf.tensor4d(data.nhwc, [s.batch, SIDE, SIDE, CHANNELS]);
  const y = tf.oneHot(tf.tensor1d(Int32Array.from(data.labels), 'int32'), CLASSES);
  const disposeAll = () => {
    model.dispose();
    optimizer.dispose();
    x.dispose();
    y.dispose();
  };
  const one = () => optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, model.logits(x)), true, model.variables)!;
  try {
    const losses: number[] = [];
    for (let i = 0; i < SETUP_STEPS; i++) {
      const loss = one();
      losses.push((await loss.data())[0]);
      loss.dispose();
    }
    checkLosses(s.id, 'TF.js', losses);
    const extra = { tensorBytes: tf.memory().numBytes, firstLoss: losses[0] };
    return {
      async run() {
        for (let i = 0; i < s.steps; i++) one().dispose();
        await tfjsFinish(tf);
      },
      dispose: disposeAll,
      extra: () => extra,
    };
  } catch (e) {
    disposeAll();
    throw e;
  }
}

function workload(s: ResNetShape): Workload {
  return {
    id: s.id,
    unit: 'samples/s',
    workPerRun: s.steps * s.batch,
    batch: s.batch,
    stepsPerRun: s.steps,
    ours: (engine) => ours(engine, s),
    tfjs: (tf) => tfjs(tf, s),
  };
}

/** ResNet-20 (0.27 M parameters) on 32×32×3 images, batch 128, SGD lr 0.1 momentum 0.9. */
const FULL: ResNetShape = { id: 'W6-resnet20', depth: 20, batch: 128, steps: 1 };
/** The same network at batch 4: small enough for a software adapter. */
const QUICK: ResNetShape = { ...FULL, id: 'W6-resnet20-quick', batch: 4 };

export default [workload(FULL), workload(QUICK)];
