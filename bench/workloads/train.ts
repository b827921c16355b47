import type * as TF from '@tensorflow/tfjs';
import type { ImageDataset } from '../../src/data/dataset.js';
import { GpuImageDataset, UNIT_RANGE } from '../../src/data/gpu_dataset.js';
import type { Engine } from '../../src/gpu/engine.js';
import { compileStep } from '../../src/graph/compile.js';
import { ParameterStore } from '../../src/graph/params.js';
import { mnistCnn, mnistMlp } from '../../src/models/mnist.js';
import type { Module } from '../../src/nn/module.js';
import { Adam } from '../../src/optim/optimizers.js';
import { mnistTrainSubset } from '../data/mnist.js';
import { checkLosses, countDispatches, normalisedPixels, oneHot } from '../data/training.js';
import type { Runner, Workload } from '../workload.js';

/** Real MNIST images trained on by both engines; uploaded once, batches cycle through them. */
const SAMPLES = 4096;
const CLASSES = 10;
/** Steps run before timing: the first compiles everything, the last is also counted for dispatches. */
const SETUP_STEPS = 2;

/** A classifier benchmarked on MNIST by both engines (also trained to a target accuracy by the demo site's benchmark page). */
export interface Classifier {
  id: string;
  batch: number;
  /** Training steps per timed run. */
  steps: number;
  /** Our model and the shape of one sample it takes. */
  model(): Module;
  inputShape: readonly number[];
  /** The same network as a TF.js Keras-style model, ending in softmax. */
  tfjsModel(tf: typeof TF): TF.Sequential;
  /** One sample as the TF.js model takes it (NHWC for the CNN, as TF.js prefers). */
  tfjsInputShape: readonly number[];
}

/**
 * Our side: one compiled step (forward, softmax cross-entropy, backward, Adam) with the batch gathered
 * on the GPU from the resident dataset into the step's inputs, all in one command buffer per step.
 * A run submits `steps` of them and waits for the GPU once, as the trainer does.
 */
async function oursClassifier(engine: Engine, c: Classifier, data: ImageDataset): Promise<Runner> {
  const store = new ParameterStore(engine, { seed: 1 });
  const model = c.model();
  model.register(store);
  const optimizer = new Adam({ lr: 1e-3 });
  const step = await compileStep(engine, {
    inputs: { x: { shape: [c.batch, ...c.inputShape] }, labels: { shape: [c.batch], dtype: 'u32' } },
    stores: [store],
    build: (g, { x, labels }) => {
      const logits = model.apply(g, x, { store, training: true });
      const [loss] = g.apply('softmax_cross_entropy', [logits, labels], {});
      return { outputs: { loss }, minimize: { loss, store, optimizer } };
    },
  });
  const gpu = new GpuImageDataset(engine, data, UNIT_RANGE);
  const batcher = await gpu.batcher(c.batch, step.inputRange('x'), step.inputRange('labels'));
  const batches = Math.floor(data.count / c.batch);
  let next = 0;
  const one = () => step.run({}, { before: (e) => batcher.encode(e, (next++ % batches) * c.batch) });
  try {
    const losses: number[] = [];
    let dispatches = 0;
    for (let i = 0; i < SETUP_STEPS; i++) {
      // The last set-up step is also the one whose dispatches are counted.
      if (i === SETUP_STEPS - 1) dispatches = await countDispatches(one);
      else one();
      losses.push((await step.read('loss'))[0]);
    }
    checkLosses(c.id, 'webgpu-dl', losses);
    const extra = {
      dispatchesPerStep: dispatches,
      planDispatches: step.stats.dispatches,
      gpuBytes: step.stats.bytes + store.bytes,
      datasetBytes: data.count * (gpu.pixels + 1 + 4),
      firstLoss: losses[0],
    };
    // CPU time of recording and submitting a step (the batch gather included), over every run.
    let encodeMs = 0;
    let encoded = 0;
    return {
      async run() {
        for (let i = 0; i < c.steps; i++) {
          const start = performance.now();
          one();
          encodeMs += performance.now() - start;
          encoded++;
        }
        await engine.device.queue.onSubmittedWorkDone();
      },
      dispose() {
        batcher.dispose();
        gpu.dispose();
        step.dispose();
        store.dispose();
      },
      extra: () => ({ ...extra, encodeMicrosPerStep: encoded ? (encodeMs * 1e3) / encoded : 0, stepEncodeMicros: step.stats.encodeMicros }),
    };
  } catch (e) {
    batcher.dispose();
    gpu.dispose();
    step.dispose();
    store.dispose();
    throw e;
  }
}

/**
 * TF.js as its users train: a compiled tf.sequential model and `trainOnBatch` on tensors made per
 * batch from the preloaded pixels, awaiting the loss it returns.
 */
async function tfjsClassifier(tf: typeof TF, c: Classifier, data: ImageDataset): Promise<Runner> {
  const pixels = normalisedPixels(data, UNIT_RANGE);
  const targets = oneHot(data.labels, CLASSES);
  const sample = data.height * data.width;
  const model = c.tfjsModel(tf);
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
  const batches = Math.floor(data.count / c.batch);
  let next = 0;
  const one = async () => {
    const b = next++ % batches;
    const xs = tf.tensor(pixels.subarray(b * c.batch * sample, (b + 1) * c.batch * sample), [c.batch, ...c.tfjsInputShape]);
    const ys = tf.tensor2d(targets.subarray(b * c.batch * CLASSES, (b + 1) * c.batch * CLASSES), [c.batch, CLASSES]);
    try {
      return (await model.trainOnBatch(xs, ys)) as number;
    } finally {
      xs.dispose();
      ys.dispose();
    }
  };
  try {
    const losses: number[] = [];
    let dispatches = 0;
    for (let i = 0; i < SETUP_STEPS; i++) {
      if (i === SETUP_STEPS - 1) dispatches = await countDispatches(async () => losses.push(await one()));
      else losses.push(await one());
    }
    checkLosses(c.id, 'TF.js', losses);
    const memory = tf.memory() as TF.MemoryInfo & { numBytesInGPU?: number; numBytesAllocatedInGPU?: number };
    const extra: Record<string, number> = { dispatchesPerStep: dispatches, tensorBytes: memory.numBytes, firstLoss: losses[0] };
    if (memory.numBytesInGPU !== undefined) extra.gpuBytes = memory.numBytesInGPU;
    if (memory.numBytesAllocatedInGPU !== undefined) extra.gpuBytesPooled = memory.numBytesAllocatedInGPU;
    return {
      async run() {
        for (let i = 0; i < c.steps; i++) await one();
      },
      dispose() {
        model.dispose();
        model.optimizer.dispose();
      },
      extra: () => extra,
    };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

/** `c` as a workload at `batch`: its own id at the batch the page runs, `<id>-b<batch>` at others. */
function classifier(c: Classifier, batch = c.batch): Workload {
  if (!Number.isInteger(batch) || batch < 1 || batch > SAMPLES) {
    throw new RangeError(`${c.id}: batch ${batch} must be an integer from 1 to ${SAMPLES}, the MNIST images it trains on`);
  }
  const at = { ...c, batch };
  return {
    id: batch === c.batch ? c.id : `${c.id}-b${batch}`,
    unit: 'samples/s',
    workPerRun: c.steps * batch,
    batch,
    stepsPerRun: c.steps,
    atBatch: (b) => classifier(c, b),
    async ours(engine) {
      return oursClassifier(engine, at, await mnistTrainSubset(SAMPLES));
    },
    async tfjs(tf) {
      return tfjsClassifier(tf, at, await mnistTrainSubset(SAMPLES));
    },
  };
}

/** 784→256→256→10 with ReLU, Adam 1e-3, batch 128. */
export const MLP: Classifier = {
  id: 'W2-mlp',
  batch: 128,
  steps: 5,
  model: () => mnistMlp(),
  inputShape: [784],
  tfjsInputShape: [784],
  tfjsModel: (tf) =>
    tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [784], units: 256, activation: 'relu' }),
        tf.layers.dense({ units: 256, activation: 'relu' }),
        tf.layers.dense({ units: CLASSES, activation: 'softmax' }),
      ],
    }),
};

/**
 * conv 1→32 3×3, ReLU, conv 32→64 3×3, ReLU, maxpool 2, flatten, 9216→128, ReLU, 128→10; Adam 1e-3,
 * batch 64. One step per run: a step takes seconds on a software adapter.
 */
export const CNN: Classifier = {
  id: 'W3-cnn',
  batch: 64,
  steps: 1,
  model: () => mnistCnn(),
  inputShape: [1, 28, 28],
  tfjsInputShape: [28, 28, 1],
  tfjsModel: (tf) =>
    tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 32, kernelSize: 3, activation: 'relu', dataFormat: 'channelsLast' }),
        tf.layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu', dataFormat: 'channelsLast' }),
        tf.layers.maxPooling2d({ poolSize: 2, dataFormat: 'channelsLast' }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 128, activation: 'relu' }),
        tf.layers.dense({ units: CLASSES, activation: 'softmax' }),
      ],
    }),
};

export default [classifier(MLP), classifier(CNN)];
