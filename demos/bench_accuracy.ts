import type * as TF from '@tensorflow/tfjs';
import { normalisedPixels, oneHot } from '../bench/data/training.js';
import type { Classifier } from '../bench/workloads/train.js';
import type { ImageDataset } from '../src/data/dataset.js';
import { GpuImageDataset, UNIT_RANGE } from '../src/data/gpu_dataset.js';
import type { Engine } from '../src/gpu/engine.js';
import { compileStep } from '../src/graph/compile.js';
import { ParameterStore } from '../src/graph/params.js';
import { Adam } from '../src/optim/optimizers.js';

// Time to a test accuracy, both engines training the same network on the same batches in the same
// order (Adam 1e-3, as the throughput workloads). The clock starts before the model is built, so it
// counts each engine's set-up (our compile, TF.js's lazily compiled shaders) but not loading MNIST.

export interface AccuracyTask {
  id: string;
  classifier: Classifier;
  batch: number;
  /** Test accuracy to reach, in [0, 1]. */
  target: number;
  train: ImageDataset;
  test: ImageDataset;
  /** Test images per evaluation launch; must divide the test set. */
  evalBatch: number;
  /** Training steps between evaluations on the test set. */
  evalEvery: number;
  /** Gives up (seconds: null) after this long. */
  maxSeconds: number;
}

export interface AccuracyRun {
  /** Seconds to reach the target, or null when the time limit came first. */
  seconds: number | null;
  steps: number;
  /** The last test accuracy measured. */
  accuracy: number;
}

const CLASSES = 10;

function checkTask(t: AccuracyTask): void {
  if (t.test.count % t.evalBatch !== 0) throw new RangeError(`${t.id}: evalBatch ${t.evalBatch} must divide the ${t.test.count} test images`);
  if (t.train.count < t.batch) throw new RangeError(`${t.id}: batch ${t.batch} is larger than the ${t.train.count} training images`);
}

function correctIn(logits: Float32Array, labels: Uint8Array, offset: number): number {
  let correct = 0;
  for (let i = 0; i * CLASSES < logits.length; i++) {
    let best = 0;
    for (let k = 1; k < CLASSES; k++) if (logits[i * CLASSES + k] > logits[i * CLASSES + best]) best = k;
    if (best === labels[offset + i]) correct++;
  }
  return correct;
}

/** Trains until the test accuracy reaches the target, as a caller of compiled steps would. */
export async function oursToAccuracy(engine: Engine, t: AccuracyTask): Promise<AccuracyRun> {
  checkTask(t);
  const c = t.classifier;
  const testPixels = normalisedPixels(t.test, UNIT_RANGE);
  const sample = t.test.height * t.test.width;
  const start = performance.now();
  const store = new ParameterStore(engine, { seed: 1 });
  const disposers: (() => void)[] = [() => store.dispose()];
  try {
    const model = c.model();
    model.register(store);
    const optimizer = new Adam({ lr: 1e-3 });
    const step = await compileStep(engine, {
      inputs: { x: { shape: [t.batch, ...c.inputShape] }, labels: { shape: [t.batch], dtype: 'u32' } },
      stores: [store],
      build: (g, { x, labels }) => {
        const [loss] = g.apply('softmax_cross_entropy', [model.apply(g, x, { store, training: true }), labels], {});
        return { outputs: { loss }, minimize: { loss, store, optimizer } };
      },
    });
    disposers.push(() => step.dispose());
    const infer = await compileStep(engine, {
      inputs: { x: { shape: [t.evalBatch, ...c.inputShape] } },
      stores: [store],
      build: (g, { x }) => ({ outputs: { logits: model.apply(g, x, { store, training: false }) } }),
    });
    disposers.push(() => infer.dispose());
    const gpu = new GpuImageDataset(engine, t.train, UNIT_RANGE);
    disposers.push(() => gpu.dispose());
    const batcher = await gpu.batcher(t.batch, step.inputRange('x'), step.inputRange('labels'));
    disposers.push(() => batcher.dispose());
    const batches = Math.floor(t.train.count / t.batch);
    const evaluate = async () => {
      let correct = 0;
      for (let offset = 0; offset < t.test.count; offset += t.evalBatch) {
        infer.run({ x: testPixels.subarray(offset * sample, (offset + t.evalBatch) * sample) });
        correct += correctIn(await infer.read('logits'), t.test.labels, offset);
      }
      return correct / t.test.count;
    };
    let steps = 0;
    let accuracy = 0;
    for (;;) {
      const offset = (steps++ % batches) * t.batch;
      step.run({}, { before: (e) => batcher.encode(e, offset) });
      if (steps % t.evalEvery !== 0) continue;
      accuracy = await evaluate();
      const seconds = (performance.now() - start) / 1e3;
      if (accuracy >= t.target) return { seconds, steps, accuracy };
      if (seconds > t.maxSeconds) return { seconds: null, steps, accuracy };
    }
  } finally {
    for (const dispose of disposers.reverse()) dispose();
  }
}

/** The same with TF.js as its users train: a compiled tf.sequential model and `trainOnBatch`. */
export async function tfjsToAccuracy(tf: typeof TF, t: AccuracyTask): Promise<AccuracyRun> {
  checkTask(t);
  const c = t.classifier;
  const pixels = normalisedPixels(t.train, UNIT_RANGE);
  const targets = oneHot(t.train.labels, CLASSES);
  const testPixels = normalisedPixels(t.test, UNIT_RANGE);
  const sample = t.train.height * t.train.width;
  const start = performance.now();
  const model = c.tfjsModel(tf);
  try {
    model.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
    const batches = Math.floor(t.train.count / t.batch);
    const evaluate = async () => {
      let correct = 0;
      for (let offset = 0; offset < t.test.count; offset += t.evalBatch) {
        const logits = tf.tidy(() => {
          const x = tf.tensor(testPixels.subarray(offset * sample, (offset + t.evalBatch) * sample), [t.evalBatch, ...c.tfjsInputShape]);
          return model.predict(x) as TF.Tensor;
        });
        try {
          correct += correctIn((await logits.data()) as Float32Array, t.test.labels, offset);
        } finally {
          logits.dispose();
        }
      }
      return correct / t.test.count;
    };
    let steps = 0;
    let accuracy = 0;
    for (;;) {
      const b = steps++ % batches;
      const xs = tf.tensor(pixels.subarray(b * t.batch * sample, (b + 1) * t.batch * sample), [t.batch, ...c.tfjsInputShape]);
      const ys = tf.tensor2d(targets.subarray(b * t.batch * CLASSES, (b + 1) * t.batch * CLASSES), [t.batch, CLASSES]);
      try {
        // Awaiting the loss, as a training loop that reports it does (and as the throughput workload).
        await model.trainOnBatch(xs, ys);
      } finally {
        xs.dispose();
        ys.dispose();
      }
      if (steps % t.evalEvery !== 0) continue;
      accuracy = await evaluate();
      const seconds = (performance.now() - start) / 1e3;
      if (accuracy >= t.target) return { seconds, steps, accuracy };
      if (seconds > t.maxSeconds) return { seconds: null, steps, accuracy };
    }
  } finally {
    model.dispose();
    model.optimizer?.dispose();
  }
}
