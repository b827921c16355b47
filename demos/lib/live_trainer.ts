import {
  compileStep,
  deviceLossOf,
  GpuImageDataset,
  RecoveryError,
  restoreSnapshot,
  ShapeError,
  SnapshotRing,
  Trainer,
  UNIT_RANGE,
  type Batcher,
  type CompiledStep,
  type Engine,
  type ImageDataset,
  type Augmentation,
  type Optimizer,
  type Module,
  type TrainingSnapshot,
} from '../../src/index.js';

export interface LiveTrainerOptions {
  model: Module;
  /** Output classes (default 10, MNIST's). */
  classes?: number;
  inputShape: number[];
  optimizer: Optimizer;
  batch: number;
  seed: number;
  /** Random transforms of every training image, drawn on the GPU in the batch gather. */
  augment?: Augmentation;
}

/** Loss and accuracy of one training step, read back from the GPU. */
export interface StepMetrics {
  step: number;
  loss: number;
  accuracy: number;
}

/** Training went back to the snapshot after `step` steps because the device was lost. */
export interface LiveRecovery {
  step: number;
  reason: string;
}

/** Steps between in-memory snapshots, the points training resumes from after a device loss. */
const SNAPSHOT_EVERY = 16;
/** Device losses in a row, with no new snapshot between them, before giving up. */
const MAX_RECOVERIES = 3;

/**
 * Training that can stop after any step: `Trainer.fit` runs whole epochs, so this keeps its own
 * compiled step, GPU dataset and batch gatherer, and runs a few steps per call. The Trainer it wraps
 * shares the parameters and serves evaluation, prediction and checkpoints. Each step's loss and hit
 * count are copied into a mappable buffer in the step's own command buffer and read asynchronously.
 *
 * Like `fit` with `autoCheckpoint`, it survives the loss of the GPU device (a driver reset, a tab
 * the browser reclaimed): every SNAPSHOT_EVERY steps the training state is copied aside without a
 * stall, and when a run fails because the device is gone, the engine opens a new device, the step,
 * dataset and gatherer are rebuilt, and training continues from the last snapshot.
 */
export class LiveTrainer {
  readonly trainer: Trainer;
  steps = 0;
  epoch = 1;
  /** Called after training resumed from a snapshot on a new device. */
  onRecover?: (r: LiveRecovery) => void;
  private stepInEpoch = 0;
  private readonly stepsPerEpoch: number;
  private gpu: { step: CompiledStep<'x' | 'labels'>; data: GpuImageDataset; batcher: Batcher; ring: SnapshotRing } | undefined;
  private latest: TrainingSnapshot | undefined;
  private lossesInARow = 0;

  private constructor(
    readonly engine: Engine,
    readonly options: LiveTrainerOptions,
    private readonly train: ImageDataset,
  ) {
    this.trainer = new Trainer(engine, { model: options.model, inputShape: options.inputShape, classes: options.classes ?? 10, optimizer: options.optimizer, seed: options.seed });
    this.stepsPerEpoch = Math.floor(train.count / options.batch);
  }

  static async create(engine: Engine, options: LiveTrainerOptions, train: ImageDataset): Promise<LiveTrainer> {
    if (options.batch > train.count) throw new ShapeError(`batch size ${options.batch} exceeds the ${train.count} training samples`);
    const live = new LiveTrainer(engine, options, train);
    await live.build();
    live.current.data.shuffle(options.seed * 7919 + 1);
    // The starting point, should the device be lost before the first snapshot.
    const encoder = engine.device.createCommandEncoder();
    const collect = live.current.ring.capture(encoder, { epoch: 1, step: 0, global: 0 }, live.current.step, undefined)!;
    engine.device.queue.submit([encoder.finish()]);
    await collect();
    return live;
  }

  /** The step, dataset, gatherer and snapshot buffers, made on the engine's current device. */
  private async build(): Promise<void> {
    const { engine, options } = this;
    const store = this.trainer.store;
    const step = await compileStep<'x' | 'labels'>(engine, {
      inputs: { x: { shape: [options.batch, ...options.inputShape] }, labels: { shape: [options.batch], dtype: 'u32' } },
      stores: [store],
      build: (g, { x, labels }) => {
        const logits = options.model.apply(g, x, { store, training: true });
        const [loss, , correct] = g.apply('softmax_cross_entropy', [logits, labels], {});
        return { outputs: { loss, correct }, minimize: { loss, store, optimizer: options.optimizer } };
      },
    });
    const data = new GpuImageDataset(engine, this.train, UNIT_RANGE);
    // The same Philox key as Trainer.fit's augmentation, clear of the dropout masks' streams.
    const batcher = await data.batcher(options.batch, step.inputRange('x'), step.inputRange('labels'), { augment: options.augment, seed: 2 ** 32 + options.seed });
    const ring = new SnapshotRing(engine, store, options.optimizer, [], (s) => {
      this.latest = s;
      this.lossesInARow = 0;
    });
    this.gpu = { step, data, batcher, ring };
  }

  private get current(): NonNullable<LiveTrainer['gpu']> {
    if (!this.gpu) throw new ShapeError('live trainer was used after dispose()');
    return this.gpu;
  }

  /**
   * Runs `n` steps and resolves with their metrics once the GPU has done them. If the device is
   * lost meanwhile, training resumes from the last snapshot (`onRecover` says from which step) and
   * this resolves with no metrics.
   */
  async run(n: number): Promise<StepMetrics[]> {
    try {
      return await this.runSteps(n);
    } catch (e) {
      await this.recoverFrom(e);
      return [];
    }
  }

  /** Rethrows `error` unless the device was lost; then goes on from the last snapshot on a new device. */
  private async recoverFrom(error: unknown): Promise<void> {
    for (let e = error; ; ) {
      const lost = await deviceLossOf(this.engine, e);
      if (!lost || !this.latest) throw lost ?? e;
      if (++this.lossesInARow > MAX_RECOVERIES) {
        throw new RecoveryError(`the GPU device was lost ${this.lossesInARow} times in a row (last: ${lost.reason}); giving up at step ${this.latest.position.global}`, this.latest);
      }
      this.disposeGpu();
      // Outside the try: if no adapter is left, that error is the one to report.
      await this.engine.recover();
      try {
        await this.resumeAt(this.latest, lost.reason);
        return;
      } catch (next) {
        e = next; // lost again while rebuilding: one more in a row
      }
    }
  }

  private async runSteps(n: number): Promise<StepMetrics[]> {
    const { step, data, batcher, ring } = this.current;
    const device = this.engine.device;
    const staging = device.createBuffer({ size: n * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'step metrics' });
    const loss = step.outputRange('loss');
    const correct = step.outputRange('correct');
    const first = this.steps;
    const snapshots: Promise<void>[] = [];
    try {
      for (let i = 0; i < n; i++) {
        if (this.stepInEpoch === this.stepsPerEpoch) {
          this.epoch++;
          this.stepInEpoch = 0;
          data.shuffle(this.options.seed * 7919 + this.epoch);
        }
        const start = this.stepInEpoch * this.options.batch;
        const at = { epoch: this.epoch, step: this.stepInEpoch + 1, global: this.steps + 1 };
        let collect: (() => Promise<void>) | undefined;
        step.run({}, {
          before: (e) => batcher.encode(e, start, this.steps),
          after: (e) => {
            e.copyBufferToBuffer(loss.buffer, loss.offset, staging, i * 8, 4);
            e.copyBufferToBuffer(correct.buffer, correct.offset, staging, i * 8 + 4, 4);
            if (at.global % SNAPSHOT_EVERY === 0) collect = ring.capture(e, at, step, undefined);
          },
        });
        if (collect) snapshots.push(collect());
        this.stepInEpoch++;
        this.steps++;
      }
      await staging.mapAsync(GPUMapMode.READ);
      const v = new Float32Array(staging.getMappedRange().slice(0));
      await Promise.all(snapshots);
      return Array.from({ length: n }, (_, i) => ({ step: first + i + 1, loss: v[i * 2], accuracy: v[i * 2 + 1] / this.options.batch }));
    } finally {
      await Promise.allSettled(snapshots);
      staging.destroy();
    }
  }

  /** Rebuilds on the engine's new device and goes back to `snapshot`. */
  private async resumeAt(snapshot: TrainingSnapshot, reason: string): Promise<void> {
    this.trainer.store.reallocate();
    await this.build();
    const { step, data } = this.current;
    restoreSnapshot(snapshot, this.trainer.store, this.options.optimizer, step);
    const { epoch, step: inEpoch, global } = snapshot.position;
    [this.epoch, this.stepInEpoch, this.steps] = [epoch, inEpoch, global];
    data.shuffle(this.options.seed * 7919 + epoch);
    this.onRecover?.({ step: global, reason });
  }

  /**
   * The first `n` images of the last training batch as the network took them (after augmentation
   * and normalisation to [0, 1]), row-major, read from the step's input buffer.
   */
  async lastBatch(n: number): Promise<Float32Array> {
    const x = this.current.step.inputRange('x');
    const floats = Math.min(n, this.options.batch) * this.options.inputShape.reduce((a, b) => a * b, 1);
    return new Float32Array(await this.engine.readBytes(x.buffer, floats * 4, x.offset));
  }

  private disposeGpu(): void {
    const g = this.gpu;
    this.gpu = undefined;
    g?.ring.dispose();
    g?.batcher.dispose();
    g?.data.dispose();
    g?.step.dispose();
  }

  dispose(): void {
    this.disposeGpu();
    this.trainer.dispose();
  }
}
