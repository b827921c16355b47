import type { Augmentation } from '../data/augment.js';
import type { Engine } from '../gpu/engine.js';
import { Trainer, type TrainerOptions } from '../train/trainer.js';
import type { Optimizer } from '../optim/optimizers.js';
import type { Schedule } from '../train/schedules.js';
import type { TrainingData } from '../train/task_step.js';
import type { JobFactory, TrainingJob } from './host.js';

/**
 * What the page sends to start a `trainerJob`: the data (an image dataset or a `tensorDataset`,
 * both plain data that cross to a worker) and the fit options that can.
 */
export interface TrainerJobConfig {
  train: TrainingData;
  /** Evaluated after every epoch (EpochResult.evalLoss/evalAccuracy). */
  evaluate?: TrainingData;
  epochs: number;
  batchSize?: number;
  progressEvery?: number;
  augment?: Augmentation;
  /** Anything the worker's `setup` needs to build the model (layer sizes, say). */
  model?: unknown;
}

/** What the worker's `setup` returns: the Trainer's options (with an optimizer), and optionally a schedule. */
export interface TrainerJobSetup extends TrainerOptions {
  optimizer: Optimizer;
  schedule?: Schedule;
}

/**
 * A job that runs `Trainer.fit` in the worker. `setup` builds the model and optimizer there (a
 * model holds code, so it cannot be sent from the page). Progress, epoch results and recoveries
 * from device loss are posted as they come; `setLearningRate` replaces the schedule's base rate
 * from the next step. Requests: `predict` ({ images, count } → class probabilities) and
 * `evaluate` (a dataset → its evaluation).
 */
export function trainerJob(setup: (config: TrainerJobConfig, engine: Engine) => TrainerJobSetup): JobFactory {
  return (engine, raw) => {
    const config = raw as TrainerJobConfig;
    const { schedule, ...options } = setup(config, engine);
    const trainer = new Trainer(engine, options);
    // Set by setLearningRate: the base rate the schedule is computed from, from the next step on.
    let base: number | undefined;
    const job: TrainingJob = {
      async run(ctx) {
        const history = await trainer.fit(config.train, {
          epochs: config.epochs,
          batchSize: config.batchSize,
          evaluate: config.evaluate,
          progressEvery: config.progressEvery,
          augment: config.augment,
          beforeStep: () => ctx.gate(),
          schedule: (step, total, initial) => (schedule ? schedule(step, total, base ?? initial) : (base ?? initial)),
          onProgress: (p) => ctx.progress(p),
          onEpoch: (r) => ctx.epoch(r),
          onRecover: (info) => ctx.event('recovered', info),
        });
        // fit puts the optimizer's rate back to where it began; a rate set meanwhile stays.
        if (base !== undefined) options.optimizer.lr = base;
        return history;
      },
      setLearningRate(lr) {
        base = lr;
        options.optimizer.lr = lr;
      },
      checkpoint: (metadata) => trainer.checkpoint(metadata),
      load: (bytes) => trainer.load(bytes),
      requests: {
        predict: (args) => {
          const { images, count } = args as { images: Uint8Array; count: number };
          return trainer.predict(images, count);
        },
        evaluate: (data) => trainer.evaluate(data as TrainingData),
      },
      // dispose() during fit stops it before the next step; fit then resolves.
      stop: () => trainer.dispose(),
      dispose: () => trainer.dispose(),
    };
    return job;
  };
}
