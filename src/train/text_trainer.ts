import '../gpu/dispose.js';
import { evenlySpacedStarts, VALIDATION_WINDOWS, WindowSampler, type TextCorpus } from '../data/text.js';
import { GpuText, type WindowGather } from '../data/text_windows.js';
import type { Engine } from '../gpu/engine.js';
import { DisposedError, ShapeError } from '../gpu/errors.js';
import type { PassTiming } from '../gpu/profiler.js';
import { compileStep, type CompiledStep } from '../graph/compile.js';
import { ParameterStore } from '../graph/params.js';
import type { CharTransformer } from '../models/transformer.js';
import { crossEntropy } from '../nn/cross_entropy.js';
import type { Optimizer } from '../optim/optimizers.js';
import { checkPairing, checkReserved, encodeOptimizerState, loadOptimizerState, runMetadata } from './optimizer_checkpoint.js';
import { checkCheckpoint, decodeSafetensors, encodeSafetensors, type NamedTensor } from './safetensors.js';
import { transformerMetadata } from './text_checkpoint.js';

/** Options of `TextTrainer.create`. */
export interface TextTrainerOptions {
  model: CharTransformer;
  corpus: TextCorpus;
  optimizer: Optimizer;
  /** Windows per training step. */
  batch: number;
  /** Seeds the initialisation and the stream of training windows. */
  seed: number;
  /** Clip the gradients' global norm to this before each update (nanoGPT: 1). Default: no clipping. */
  clipNorm?: number;
  /** Fixed windows each loss estimate averages, in each split; default VALIDATION_WINDOWS (200). */
  evalWindows?: number;
}

/** How far a trainer has trained: what a resumed trainer must start from to go on as this one would. */
export interface TextProgress {
  /** Training steps taken (each drew `batch` windows from the seed's stream). */
  steps: number;
  /** The compiled training step's runs (its per-run random streams: dropout masks) and updates. */
  runs: number;
  updates: number;
}

/** Mean cross-entropy (nats per character) over fixed windows of each split. */
export interface TextLosses {
  trainLoss: number;
  valLoss: number;
}

type Tokens = 'x' | 'labels';

/**
 * Trains a character transformer on a text resident on the GPU: each step gathers `batch` random
 * windows (drawn from the seed, the same as scripts/train_pytorch.py draws) and runs forward,
 * backward and the update in one submit, reading nothing back. `evaluate` measures the loss on
 * fixed, evenly spaced windows of both splits, the same every time and in the PyTorch script.
 */
export class TextTrainer implements Disposable {
  readonly store: ParameterStore;
  private disposed = false;
  /** Training steps taken, so windows drawn from the sampler = taken · batch. */
  private taken = 0;

  private constructor(
    private readonly o: TextTrainerOptions,
    store: ParameterStore,
    private readonly text: GpuText,
    private readonly step: CompiledStep<Tokens>,
    private readonly gather: WindowGather,
    private readonly evalStep: CompiledStep<Tokens>,
    private readonly evalGathers: { train: WindowGather; val: WindowGather },
    private readonly evalBatch: number,
    private readonly sampler: WindowSampler,
    private readonly starts: Uint32Array,
  ) {
    this.store = store;
  }

  /** Registers the model's parameters (initialised from `seed`), uploads the text and compiles the training and evaluation steps. */
  static async create(engine: Engine, o: TextTrainerOptions): Promise<TextTrainer> {
    const { model, corpus, batch } = o;
    const { context, vocab } = model.config;
    if (corpus.context !== context) throw new ShapeError(`TextTrainer: the corpus was split for context ${corpus.context}, the model takes ${context}`);
    if (corpus.vocab.length > vocab) throw new ShapeError(`TextTrainer: the text has ${corpus.vocab.length} distinct characters, the model's vocab is ${vocab}; make vocab at least ${corpus.vocab.length}`);
    if (!Number.isInteger(batch) || batch < 1) throw new ShapeError(`TextTrainer: batch ${batch} must be a positive integer`);
    const windows = o.evalWindows ?? VALIDATION_WINDOWS;
    if (!Number.isInteger(windows) || windows < 1) throw new ShapeError(`TextTrainer: evalWindows ${windows} must be a positive integer`);
    // Evaluation runs a few large forward-only batches; the windows are rounded up to fill them.
    const evalBatches = Math.ceil(windows / 50);
    const evalBatch = Math.ceil(windows / evalBatches);
    const store = new ParameterStore(engine, { seed: o.seed });
    const owned: Disposable[] = [];
    const own = <T extends { dispose(): void }>(d: T): T => {
      owned.push({ [Symbol.dispose]: () => d.dispose() });
      return d;
    };
    try {
      model.register(store);
      const text = own(new GpuText(engine, corpus));
      const tokenInputs = (b: number) => ({ x: { shape: [b, context], dtype: 'u32' as const }, labels: { shape: [b, context], dtype: 'u32' as const } });
      const step = own(
        await compileStep(engine, {
          inputs: tokenInputs(batch),
          stores: [store],
          build: (g, { x, labels }) => {
            const { loss } = crossEntropy(g, model.apply(g, x, { store, training: true }), labels);
            return { outputs: { loss }, minimize: { loss, store, optimizer: o.optimizer, clipNorm: o.clipNorm } };
          },
        }),
      );
      const evalStep = own(
        await compileStep(engine, {
          inputs: tokenInputs(evalBatch),
          stores: [store],
          build: (g, { x, labels }) => ({ outputs: { loss: crossEntropy(g, model.apply(g, x, { store, training: false }), labels).loss } }),
        }),
      );
      const total = evalBatch * evalBatches;
      const into = (s: CompiledStep<Tokens>) => [s.inputRange('x'), s.inputRange('labels')] as const;
      const gather = await text.gather(...into(step), batch, batch);
      const evalGathers = {
        train: await text.gather(...into(evalStep), evalBatch, evenlySpacedStarts(0, corpus.trainTokens, context, total)),
        val: await text.gather(...into(evalStep), evalBatch, evenlySpacedStarts(corpus.trainTokens, corpus.tokens.length, context, total)),
      };
      const sampler = new WindowSampler(corpus.trainTokens - context, o.seed);
      return new TextTrainer(o, store, text, step, gather, evalStep, evalGathers, evalBatch, sampler, new Uint32Array(batch));
    } catch (e) {
      for (const d of owned.reverse()) d[Symbol.dispose]();
      store.dispose();
      throw e;
    }
  }

  /** Updates applied so far. */
  get steps(): number {
    return this.step.step;
  }

  /** Runs one training step at learning rate `lr` (submitted, not awaited; nothing is read back). */
  trainStep(lr: number): void {
    this.check();
    this.o.optimizer.lr = lr;
    this.drawWindows();
    this.step.run({}, { before: (encoder) => this.gather.encode(encoder) });
  }

  /** Where training stands; `resume` on a new trainer of the same model, text and seed continues from it. */
  get progress(): TextProgress {
    return { steps: this.taken, runs: this.step.runCount, updates: this.step.step };
  }

  /**
   * Continues the training of a checkpoint: loads its weights and optimizer state (which must be a
   * pair written together, for this model), then moves the window stream and the step's random
   * streams and update count to `progress`, so the next `trainStep` is the one the saving trainer
   * would have taken next. Call on a fresh trainer, before any step.
   */
  resume(weights: Uint8Array, optimizerState: Uint8Array, progress: TextProgress, source = 'checkpoint'): void {
    this.check();
    if (this.taken !== 0 || this.step.runCount !== 0) throw new ShapeError(`TextTrainer.resume: this trainer has already taken ${this.taken} steps; resume on a fresh one`);
    const { tensors, metadata } = decodeSafetensors(weights, { source, requireFinite: true });
    checkCheckpoint(new Map(this.store.stateDict.map((p) => [p.name, p.shape])), tensors);
    const loaded = checkPairing(this.store, 'weights', metadata);
    for (const t of tensors.values()) this.store.write(t.name, t.data);
    loaded();
    loadOptimizerState(this.store, this.o.optimizer, optimizerState, `${source} optimizer state`);
    // The sampler is a seeded stream: replaying its draws puts it where the saving run left it.
    for (let i = 0; i < progress.steps; i++) this.sampler.next(this.starts);
    this.taken = progress.steps;
    this.step.continueFrom(progress.runs, progress.updates);
  }

  /**
   * Runs one training step at learning rate `lr` with every kernel in a compute pass of its own and
   * returns their GPU times, in launch order: where a step's time goes. The step is a real one.
   */
  profile(lr: number): Promise<PassTiming[]> {
    this.check();
    this.o.optimizer.lr = lr;
    this.drawWindows();
    return this.step.profile({}, { before: (encoder) => this.gather.encode(encoder) });
  }

  /** The last training batch's loss; waits for the GPU, and throws a DivergenceError if training halted on a non-finite value. */
  lastLoss(): Promise<number> {
    this.check();
    return this.step.read('loss').then((l) => l[0]);
  }

  /** Mean loss over the fixed windows of each split (forward only, evaluation mode). */
  async evaluate(): Promise<TextLosses> {
    this.check();
    const mean = async (gather: WindowGather) => {
      let sum = 0;
      const total = this.evalTotal;
      for (let first = 0; first < total; first += this.evalBatch) {
        this.evalStep.run({}, { before: (encoder) => gather.encode(encoder, first) });
        sum += (await this.evalStep.read('loss'))[0];
      }
      return sum / (total / this.evalBatch);
    };
    return { trainLoss: await mean(this.evalGathers.train), valLoss: await mean(this.evalGathers.val) };
  }

  /** Windows each loss estimate averages (at least the requested evalWindows). */
  get evalTotal(): number {
    return this.evalBatch * Math.ceil((this.o.evalWindows ?? VALIDATION_WINDOWS) / this.evalBatch);
  }

  /**
   * The weights as safetensors in the PyTorch module's state_dict layout, with the model's
   * configuration and vocabulary in the metadata (see `loadCharTransformer`), and the run id and
   * step pairing it with `optimizerCheckpoint`. `metadata` adds entries (e.g. the training recipe).
   */
  async checkpoint(metadata: Record<string, string> = {}): Promise<Uint8Array> {
    this.check();
    checkReserved(metadata, ['run_id', 'step', 'model', 'transformer', 'vocab']);
    const tensors: NamedTensor[] = [];
    for (const p of this.store.stateDict) tensors.push({ name: p.name, shape: p.shape, data: await this.store.read(p.name) });
    return encodeSafetensors(tensors, { format: 'pt', ...metadata, ...transformerMetadata(this.o.model.config, this.o.corpus.vocab), ...runMetadata(this.store) });
  }

  /** The optimizer's state (moments and step), as torch.optim names it. */
  optimizerCheckpoint(): Promise<Uint8Array> {
    this.check();
    return encodeOptimizerState(this.store, this.o.optimizer, { model: 'transformer' });
  }

  /** Frees the text, the steps and the parameters. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.text.dispose();
    this.step.dispose();
    this.evalStep.dispose();
    this.store.dispose();
  }

  /** Disposes the trainer at the end of a `using` block. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  private drawWindows(): void {
    this.gather.setStarts(this.sampler.next(this.starts));
    this.taken++;
  }

  private check(): void {
    if (this.disposed) throw new DisposedError('TextTrainer was used after dispose()');
  }
}
