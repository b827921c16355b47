import { Adam, SGD, ShapeError, deviceLossOf, type Augmentation, type ImageDataset, type Optimizer } from '../../src/index.js';
import { resnet } from '../../src/models/resnet.js';
import type { JobContext, JobFactory, TrainingJob } from '../../src/worker/index.js';
import { LiveTrainer, type StepMetrics } from './live_trainer.js';

/** What the Images page sends to start training. */
export interface ImagesJobConfig {
  depth: number;
  width: number;
  optimizer: 'sgd' | 'adam';
  lr: number;
  batch: number;
  seed: number;
  augment?: Augmentation;
  /** RGB images [count, 3, 32, 32] with their per-channel statistics (channelNormalisation). */
  train: ImageDataset;
  test: ImageDataset;
  /** The test images whose predictions the page shows, as stored (3·32·32 bytes each). */
  grid: Uint8Array;
  settings: ImagesSettings;
}

export interface ImagesSettings {
  /** Pause by itself after this many steps (0: never). */
  maxSteps: number;
  evalEvery: number;
}

export interface ImagesChunk {
  metrics: StepMetrics[];
  steps: number;
  epoch: number;
  stepMs: number;
  samplesPerSec: number;
}

/** Posted as event 'evaluation' (and answered to the 'evaluate' request). */
export interface ImagesEvaluation {
  step: number;
  parameters: number;
  loss: number;
  accuracy: number;
  confusion: number[][];
  /** Class probabilities of the grid images, `classes` per image. */
  gridProbs: Float32Array;
}

const CHUNK = 4;

function softmaxRows(logits: Float32Array, classes: number): Float32Array {
  const out = new Float32Array(logits.length);
  for (let r = 0; r < logits.length / classes; r++) {
    const row = logits.subarray(r * classes, (r + 1) * classes);
    const max = Math.max(...row);
    let total = 0;
    for (let c = 0; c < classes; c++) total += out[r * classes + c] = Math.exp(row[c] - max);
    for (let c = 0; c < classes; c++) out[r * classes + c] /= total;
  }
  return out;
}

/**
 * The Images page's job, in the worker: a CIFAR ResNet (resnet({ depth, width })) trained by a
 * LiveTrainer a few steps at a time, with an evaluation (loss, accuracy, confusion matrix and the
 * grid's class probabilities) every `evalEvery` steps. Pixels are normalised per channel with the
 * training set's statistics: by the gather kernel for training and evaluation, by the predictor for the grid.
 */
export const imagesJob: JobFactory = async (engine, raw) => {
  const config = raw as ImagesJobConfig;
  const settings = { ...config.settings };
  const { train, test } = config;
  const classes = Math.max(train.classes, test.classes);
  const norm = train.channelNormalisation;
  if (!norm || (train.channels ?? 1) !== 3) throw new ShapeError('images job: the training set must be RGB with its channel statistics (channelNormalisation)');
  const optimizer: Optimizer = config.optimizer === 'adam' ? new Adam({ lr: config.lr }) : new SGD({ lr: config.lr, momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
  const model = resnet({ depth: config.depth, width: config.width, classes, channels: 3 });
  const inputShape = [3, train.height, train.width];
  const live = await LiveTrainer.create(engine, { model, classes, inputShape, optimizer, batch: config.batch, seed: config.seed, augment: config.augment }, train);
  // The LiveTrainer steps without Trainer.fit, so the predictor is told the training statistics.
  const predictor = live.trainer.predictor({ normalisation: norm });
  let lastEval = 0;

  async function evaluate(): Promise<ImagesEvaluation> {
    const step = live.steps;
    const e = await live.trainer.evaluate(test);
    lastEval = step;
    const gridProbs = softmaxRows(await predictor.predict(config.grid), classes);
    return { step, parameters: live.trainer.store.count, loss: e.loss, accuracy: e.accuracy, confusion: e.confusion, gridProbs };
  }

  async function run(ctx: JobContext): Promise<void> {
    live.onRecover = (r) => ctx.event('recovered', r);
    ctx.event('evaluation', await evaluate());
    for (;;) {
      const limit = settings.maxSteps;
      if (limit > 0 && live.steps >= limit) ctx.pause(`Stopped after ${live.steps} steps; press Resume to go on.`);
      const wait = ctx.gate();
      if (wait) await wait;
      if (ctx.stopping) return;
      if (settings.maxSteps > 0 && live.steps >= settings.maxSteps) continue;
      const n = settings.maxSteps > 0 ? Math.min(CHUNK, settings.maxSteps - live.steps) : CHUNK;
      const t0 = performance.now();
      const metrics = await live.run(n);
      const ms = performance.now() - t0;
      if (metrics.length === 0 || ctx.stopping) continue;
      ctx.progress({ metrics, steps: live.steps, epoch: live.epoch, stepMs: ms / n, samplesPerSec: (n * config.batch) / (ms / 1000) } satisfies ImagesChunk);
      const reachedLimit = settings.maxSteps > 0 && live.steps >= settings.maxSteps;
      if (live.steps - lastEval >= settings.evalEvery || reachedLimit) {
        const report = await evaluate().catch(async (e) => {
          if (!(await deviceLossOf(engine, e))) throw e;
        });
        if (report) ctx.event('evaluation', report);
      }
    }
  }

  const job: TrainingJob = {
    run,
    setLearningRate: (lr) => (optimizer.lr = lr),
    checkpoint: (metadata) => live.trainer.checkpoint(metadata),
    load: (bytes) => live.trainer.load(bytes),
    requests: {
      settings: (changes) => Object.assign(settings, changes),
      evaluate: () => evaluate(),
    },
    dispose: () => {
      predictor.dispose();
      live.dispose();
    },
  };
  return job;
};
