import {
  compileStep,
  GpuImageDataset,
  ShapeError,
  Trainer,
  UNIT_RANGE,
  type Batcher,
  type CompiledStep,
  type Engine,
  type ImageDataset,
  type Augmentation,
  type Optimizer,
  type Sequential,
} from '../../src/index.js';

export interface LiveTrainerOptions {
  model: Sequential;
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

/**
 * Training that can stop after any step: `Trainer.fit` runs whole epochs, so this keeps its own
 * compiled step, GPU dataset and batch gatherer, and runs a few steps per call. The Trainer it wraps
 * shares the parameters and serves evaluation, prediction and checkpoints. Each step's loss and hit
 * count are copied into a mappable buffer in the step's own command buffer and read asynchronously.
 */
export class LiveTrainer {
  readonly trainer: Trainer;
  steps = 0;
  epoch = 1;
  private stepInEpoch = 0;
  private readonly stepsPerEpoch: number;

  private constructor(
    readonly engine: Engine,
    readonly options: LiveTrainerOptions,
    private readonly step: CompiledStep<'x' | 'labels'>,
    private readonly data: GpuImageDataset,
    private readonly batcher: Batcher,
    trainer: Trainer,
  ) {
    this.trainer = trainer;
    this.stepsPerEpoch = Math.floor(data.count / options.batch);
  }

  static async create(engine: Engine, options: LiveTrainerOptions, train: ImageDataset): Promise<LiveTrainer> {
    if (options.batch > train.count) throw new ShapeError(`batch size ${options.batch} exceeds the ${train.count} training samples`);
    const trainer = new Trainer(engine, { model: options.model, inputShape: options.inputShape, classes: 10, optimizer: options.optimizer, seed: options.seed });
    const store = trainer.store;
    const step = await compileStep<'x' | 'labels'>(engine, {
      inputs: { x: { shape: [options.batch, ...options.inputShape] }, labels: { shape: [options.batch], dtype: 'u32' } },
      stores: [store],
      build: (g, { x, labels }) => {
        const logits = options.model.apply(g, x, { store, training: true });
        const [loss, , correct] = g.apply('softmax_cross_entropy', [logits, labels], {});
        return { outputs: { loss, correct }, minimize: { loss, store, optimizer: options.optimizer } };
      },
    });
    const data = new GpuImageDataset(engine, train, UNIT_RANGE);
    // The same Philox key as Trainer.fit's augmentation, clear of the dropout masks' streams.
    const batcher = await data.batcher(options.batch, step.inputRange('x'), step.inputRange('labels'), { augment: options.augment, seed: 2 ** 32 + options.seed });
    const live = new LiveTrainer(engine, options, step, data, batcher, trainer);
    data.shuffle(options.seed * 7919 + 1);
    return live;
  }

  /** Runs `n` steps and resolves with their metrics once the GPU has done them. */
  async run(n: number): Promise<StepMetrics[]> {
    const device = this.engine.device;
    const staging = device.createBuffer({ size: n * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'step metrics' });
    const loss = this.step.outputRange('loss');
    const correct = this.step.outputRange('correct');
    const first = this.steps;
    for (let i = 0; i < n; i++) {
      if (this.stepInEpoch === this.stepsPerEpoch) {
        this.epoch++;
        this.stepInEpoch = 0;
        this.data.shuffle(this.options.seed * 7919 + this.epoch);
      }
      const start = this.stepInEpoch * this.options.batch;
      this.step.run({}, {
        before: (e) => this.batcher.encode(e, start, this.steps),
        after: (e) => {
          e.copyBufferToBuffer(loss.buffer, loss.offset, staging, i * 8, 4);
          e.copyBufferToBuffer(correct.buffer, correct.offset, staging, i * 8 + 4, 4);
        },
      });
      this.stepInEpoch++;
      this.steps++;
    }
    try {
      await staging.mapAsync(GPUMapMode.READ);
      const v = new Float32Array(staging.getMappedRange().slice(0));
      return Array.from({ length: n }, (_, i) => ({ step: first + i + 1, loss: v[i * 2], accuracy: v[i * 2 + 1] / this.options.batch }));
    } finally {
      staging.destroy();
    }
  }

  /**
   * The first `n` images of the last training batch as the network took them (after augmentation
   * and normalisation to [0, 1]), row-major, read from the step's input buffer.
   */
  async lastBatch(n: number): Promise<Float32Array> {
    const x = this.step.inputRange('x');
    const floats = Math.min(n, this.options.batch) * this.options.inputShape.reduce((a, b) => a * b, 1);
    return new Float32Array(await this.engine.readBytes(x.buffer, floats * 4, x.offset));
  }

  dispose(): void {
    this.batcher.dispose();
    this.data.dispose();
    this.step.dispose();
    this.trainer.dispose();
  }
}
