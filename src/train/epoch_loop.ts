import { ShapeError } from '../gpu/errors.js';
import type { Engine } from '../gpu/engine.js';
import type { CompiledStep } from '../graph/compile.js';
import type { Augmentation } from '../data/augment.js';
import type { Normalisation } from '../data/gpu_dataset.js';
import { uploadDataset, type BatchGather, type ResidentDataset } from '../data/gpu_tensor_dataset.js';
import type { TrainingData } from './task_step.js';
import type { Optimizer } from '../optim/optimizers.js';
import { MetricSums } from './metric_sums.js';
import type { StepWatch } from './step_watch.js';
import type { Schedule } from './schedules.js';
import type { LoopPosition } from './auto_checkpoint.js';

/** What the loop runs: a compiled training step with inputs 'x' and 'labels', fed on the GPU from `train`. */
export interface EpochLoopOptions {
  engine: Engine;
  /** Owned by the caller; its one-element outputs named in `metrics` are summed over each epoch. */
  step: CompiledStep<'x' | 'labels'>;
  /** Image datasets are normalised by `normalisation`; tensor datasets carry their own. */
  train: TrainingData;
  normalisation: Normalisation;
  metrics: readonly string[];
  /** Random transforms in the batch gather, drawn with Philox key `augmentSeed`. */
  augment?: Augmentation;
  augmentSeed?: number;
  batch: number;
  epochs: number;
  /** Seeds the per-epoch shuffle. */
  seed: number;
  /** Its `lr` is set per step by `schedule` and restored to the base rate when the loop ends. */
  optimizer: Optimizer;
  schedule?: Schedule;
  /** Recorded after every step in the same command buffer. */
  afterStep?: (encoder: GPUCommandEncoder) => void;
  /** Called about every `progressEvery` steps (default 20) with the sums so far, read without stalling. */
  onProgress?: (p: LoopProgress) => void;
  progressEvery?: number;
  /** Polled before every step: true ends the loop there (the owner was disposed). */
  stop?: () => boolean;
  /** Called before every step; a promise it returns is awaited first (a pause between steps). */
  beforeStep?: () => Promise<void> | undefined;
  /**
   * Checks every metric readback for bad labels and non-finite steps (throws from the loop); with
   * a watch the sums are read back every `progressEvery` steps even without `onProgress`.
   */
  watch?: StepWatch;
  /** Where to begin instead of epoch 1, step 0: a snapshot's position and its epoch's sums so far. */
  resume?: { position: LoopPosition; sums: Float32Array };
  /**
   * Recorded after every step (after `afterStep`) with the position the step reached; a function
   * it returns is called once the step is submitted (e.g. to map a snapshot's staging copy).
   */
  onStepEnd?: (encoder: GPUCommandEncoder, at: LoopPosition, sums: MetricSums) => (() => void) | undefined;
}

export interface LoopProgress {
  epoch: number;
  /** Steps done in this epoch, and per epoch. */
  step: number;
  steps: number;
  sums: Record<string, number>;
  /** Steps of this epoch so far whose update was skipped (non-finite); they add to no sum. */
  skipped: number;
  samplesPerSec: number;
}

/** The metric sums of one finished epoch. */
export interface EpochSums {
  epoch: number;
  steps: number;
  sums: Record<string, number>;
  /** Steps of the epoch whose update was skipped (non-finite); they add to no sum. */
  skipped: number;
  seconds: number;
  /** The rate of the epoch's last step. */
  lr: number;
}

/**
 * The training loop shared by `Trainer.fit` and `distill`: every epoch reshuffles the dataset on the
 * GPU, runs `floor(count / batch)` steps (the last partial batch is dropped, as drop_last=True), each
 * one command buffer (gather, step, metric sums, `afterStep`), and yields the epoch's sums. Breaking
 * out of the `for await` stops training after that epoch (early stopping); `stop` ends it before
 * the next step, without yielding the partial epoch. The dataset is uploaded
 * when the loop starts and, with the batcher and the sums, destroyed when it ends; the step stays
 * the caller's.
 */
export async function* epochLoop(o: EpochLoopOptions): AsyncGenerator<EpochSums> {
  const { engine, step, batch, optimizer } = o;
  const steps = Math.floor(o.train.count / batch);
  const total = steps * o.epochs;
  const base = optimizer.lr;
  let data: ResidentDataset | undefined;
  let batcher: BatchGather | undefined;
  let sums: MetricSums | undefined;
  const progress = new ProgressReports();
  try {
    data = uploadDataset(engine, o.train, o.normalisation);
    batcher = await data.batcher(batch, step.inputRange('x'), step.inputRange('labels'), { augment: o.augment, seed: o.augmentSeed ?? 0 });
    sums = await MetricSums.create(engine, o.metrics, o.metrics.map((n) => step.outputRange(n)), step.healthRange);
    const watch = o.watch;
    let skippedBefore = 0; // by the end of the previous epoch
    let resume = o.resume;
    for (let epoch = resume?.position.epoch ?? 1; epoch <= o.epochs; epoch++) {
      data.shuffle(o.seed * 7919 + epoch);
      if (resume?.sums.length) sums.load(resume.sums);
      else sums.reset();
      const first = resume?.position.step ?? 0;
      resume = undefined;
      // The rate of the last step done, as an epoch resumed at its end reports it.
      if (first > 0 && o.schedule) optimizer.lr = o.schedule((epoch - 1) * steps + first - 1, total, base);
      const started = performance.now();
      const rate = (done: number) => ((done - first) * batch) / ((performance.now() - started) / 1000);
      for (let i = first; i < steps; i++) {
        progress.rethrow();
        const pause = o.beforeStep?.();
        if (pause) await pause;
        if (o.stop?.()) return;
        const global = (epoch - 1) * steps + i;
        if (o.schedule) optimizer.lr = o.schedule(global, total, base);
        // Snapshots also carry the watch's flags: a diverged run is stopped within a few of them.
        const report = (o.onProgress !== undefined || watch !== undefined) && (i + 1) % (o.progressEvery ?? 20) === 0;
        let collect: ReturnType<MetricSums['snapshot']>;
        let submitted: (() => void) | undefined;
        const [b, m] = [batcher, sums];
        step.run({}, {
          before: (encoder) => b.encode(encoder, i * batch, global),
          inPass: (pass) => m.encode(pass),
          after:
            report || o.afterStep || o.onStepEnd
              ? (encoder) => {
                  o.afterStep?.(encoder);
                  if (report) collect = m.snapshot(encoder);
                  submitted = o.onStepEnd?.(encoder, { epoch, step: i + 1, global: global + 1 }, m);
                }
              : undefined,
        });
        submitted?.();
        if (collect!) {
          const done = i + 1;
          const before = skippedBefore;
          progress.add(
            collect().then((s) => {
              const skipped = (watch?.check(s) ?? 0) - before;
              o.onProgress?.({ epoch, step: done, steps, sums: s.sums, skipped, samplesPerSec: rate(done) });
            }),
          );
          collect = undefined;
        }
        // Keep the queue from running far ahead of the GPU (and the page responsive).
        if (i % 8 === 7) await engine.device.queue.onSubmittedWorkDone();
      }
      const s = await sums.read();
      progress.rethrow();
      const skipped = watch?.check(s) ?? 0;
      if (o.stop?.()) return;
      const inEpoch = skipped - skippedBefore;
      skippedBefore = skipped;
      yield { epoch, steps, sums: s.sums, skipped: inEpoch, seconds: (performance.now() - started) / 1000, lr: optimizer.lr };
    }
  } finally {
    optimizer.lr = base;
    // Snapshots still mapping would reject once their staging buffers are destroyed.
    await progress.settle();
    sums?.dispose();
    batcher?.dispose();
    data?.dispose();
  }
}

/** Throws a ShapeError, prefixed with `who`, unless `epochs` and `batch` can train on `count` samples. */
export function checkEpochsAndBatch(who: string, epochs: number, batch: number, count: number): void {
  if (!Number.isInteger(epochs) || epochs < 1) throw new ShapeError(`${who}: epochs ${epochs} must be a positive integer`);
  if (!Number.isInteger(batch) || batch < 1 || batch > count) {
    throw new ShapeError(`${who}: batch size ${batch} must be a positive integer no larger than the ${count} training samples`);
  }
}

/**
 * Progress callbacks run when their snapshot arrives, outside the loop's control flow: this keeps
 * their promises, so a callback that throws fails the loop at its next step (instead of becoming
 * an unhandled rejection), and the loop can wait for all of them before freeing their buffers.
 */
export class ProgressReports {
  private readonly pending = new Set<Promise<void>>();
  private failure: { error: unknown } | undefined;

  add(report: Promise<void>): void {
    const tracked = report.then(
      () => undefined,
      (error: unknown) => {
        this.failure ??= { error };
      },
    );
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
  }

  /** Throws the first error a callback threw, if any. */
  rethrow(): void {
    if (this.failure) throw this.failure.error;
  }

  /** Waits for every report in flight; their errors are kept for `rethrow`, never raised here. */
  async settle(): Promise<void> {
    await Promise.all(this.pending);
  }
}
