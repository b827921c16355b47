import { Adam, AdamW, SGD, deviceLossOf, type Augmentation, type ImageDataset, type Optimizer, type Sequential } from '../../src/index.js';
import type { JobContext, JobFactory, TrainingJob } from '../../src/worker/index.js';
import { FeatureMapProbe, type FeatureMaps } from './feature_maps.js';
import { LiveTrainer, type StepMetrics } from './live_trainer.js';

/** What the MLP and CNN pages send to start training in the worker. */
export interface ClassifierJobConfig {
  sizes: number[];
  inputShape: number[];
  optimizer: 'adam' | 'adamw' | 'sgd';
  lr: number;
  batch: number;
  seed: number;
  augment?: Augmentation;
  train: ImageDataset;
  test: ImageDataset;
  /** The test images whose predictions the page shows (784 bytes each). */
  grid: Uint8Array;
  settings: ClassifierSettings;
  /** Parameters whose values come with every evaluation (the weight views). */
  weights: string[];
}

/** What the page may change while training runs. */
export interface ClassifierSettings {
  /** Pause by itself after this many steps (0: never). */
  maxSteps: number;
  evalEvery: number;
  /** The test digit whose feature maps come with evaluations (CNN only). */
  featureDigit?: number;
}

/** Posted after every chunk of steps. */
export interface ChunkReport {
  metrics: StepMetrics[];
  steps: number;
  epoch: number;
  stepMs: number;
  samplesPerSec: number;
}

/** Posted as event 'evaluation' (and answered to the 'evaluate' request). */
export interface EvaluationReport {
  step: number;
  /** The model's parameter count. */
  parameters: number;
  loss: number;
  accuracy: number;
  confusion: number[][];
  /** Class probabilities of the grid images, 10 per image. */
  gridProbs: Float32Array;
  /** The first images of the last training batch as the network took them ([0, 1], 784 each). */
  batch?: Float32Array;
  weights: { name: string; shape: number[]; data: Float32Array }[];
  featureMaps?: FeatureMaps;
}

/** Steps per chunk: the page hears about training this often, and a pause takes effect between chunks. */
const CHUNK = 8;
const BATCH_SHOWN = 8;

function makeOptimizer(kind: string, lr: number): Optimizer {
  if (kind === 'sgd') return new SGD({ lr, momentum: 0.9 });
  if (kind === 'adamw') return new AdamW({ lr, weightDecay: 0.01 });
  return new Adam({ lr });
}

/**
 * The MLP and CNN demos' training, run in the worker: a LiveTrainer (which survives device loss)
 * driven a chunk of steps at a time, with an evaluation every `evalEvery` steps that carries
 * everything the page draws. `featureMaps` adds the CNN page's per-layer outputs.
 */
export function classifierJob(buildModel: (sizes: number[]) => Sequential, options: { featureMaps?: boolean } = {}): JobFactory {
  return async (engine, raw) => {
    const config = raw as ClassifierJobConfig;
    const settings = { ...config.settings };
    const optimizer = makeOptimizer(config.optimizer, config.lr);
    const live = await LiveTrainer.create(engine, { model: buildModel(config.sizes), inputShape: config.inputShape, optimizer, batch: config.batch, seed: config.seed, augment: config.augment }, config.train);
    const probe = options.featureMaps ? new FeatureMapProbe() : undefined;
    let lastEval = 0;

    async function evaluate(): Promise<EvaluationReport> {
      const step = live.steps;
      const e = await live.trainer.evaluate(config.test);
      lastEval = step;
      const gridProbs = await live.trainer.predict(config.grid, config.grid.length / 784);
      const batch = step > 0 ? await live.lastBatch(BATCH_SHOWN) : undefined;
      const weights = [];
      for (const name of config.weights) weights.push({ name, shape: [...live.trainer.store.entry(name).shape], data: await live.trainer.store.read(name) });
      const featureMaps = probe && (await probe.read(live, config.test, settings.featureDigit ?? 0));
      return { step, parameters: live.trainer.store.count, loss: e.loss, accuracy: e.accuracy, confusion: e.confusion, gridProbs, batch, weights, featureMaps };
    }

    async function train(ctx: JobContext): Promise<void> {
      live.onRecover = (r) => ctx.event('recovered', r);
      ctx.event('evaluation', await evaluate());
      for (;;) {
        const limit = settings.maxSteps;
        if (limit > 0 && live.steps >= limit) ctx.pause(`Stopped after ${live.steps} steps; press Resume to go on.`);
        const wait = ctx.gate();
        if (wait) await wait;
        if (ctx.stopping) return;
        if (limit > 0 && live.steps >= settings.maxSteps) continue;
        const n = settings.maxSteps > 0 ? Math.min(CHUNK, settings.maxSteps - live.steps) : CHUNK;
        const t0 = performance.now();
        const metrics = await live.run(n);
        const ms = performance.now() - t0;
        // No metrics: the device was lost and training went back to a snapshot (see onRecover).
        if (metrics.length === 0 || ctx.stopping) continue;
        ctx.progress({ metrics, steps: live.steps, epoch: live.epoch, stepMs: ms / n, samplesPerSec: (n * config.batch) / (ms / 1000) } satisfies ChunkReport);
        const reachedLimit = settings.maxSteps > 0 && live.steps >= settings.maxSteps;
        if (live.steps - lastEval >= settings.evalEvery || reachedLimit) {
          // A device lost during evaluation is recovered from by the next run.
          const report = await evaluate().catch(async (e) => {
            if (!(await deviceLossOf(engine, e))) throw e;
          });
          if (report) ctx.event('evaluation', report);
        }
      }
    }

    const job: TrainingJob = {
      run: train,
      setLearningRate: (lr) => (optimizer.lr = lr),
      checkpoint: (metadata) => live.trainer.checkpoint(metadata),
      load: (bytes) => live.trainer.load(bytes),
      requests: {
        settings: (changes) => Object.assign(settings, changes),
        evaluate: () => evaluate(),
        predict: (pixels) => live.trainer.predict(pixels as Uint8Array, 1),
        featureMaps: (index) => {
          settings.featureDigit = index as number;
          return probe?.read(live, config.test, index as number);
        },
        // For the tests: destroys the device, as a driver reset would.
        loseDevice: () => engine.device.destroy(),
      },
      dispose: () => {
        probe?.dispose();
        live.dispose();
      },
    };
    return job;
  };
}
