import '../gpu/dispose.js';
import type { Engine } from '../gpu/engine.js';
import { checkSeed } from './seed.js';
import { ShapeError } from '../gpu/errors.js';
import type { CompiledStep } from '../graph/compile.js';
import type { PassTiming } from '../gpu/profiler.js';
import { profileTrainingStep } from './profile_step.js';
import { ParameterStore } from '../graph/params.js';
import { UNIT_RANGE } from '../data/gpu_dataset.js';
import type { ImageDataset } from '../data/dataset.js';
import type { TensorDataset } from '../data/tensor_dataset.js';
import type { Optimizer } from '../optim/optimizers.js';
import { checkEpochsAndBatch, epochLoop } from './epoch_loop.js';
import { EarlyStopping } from './early_stopping.js';
import { Lifecycle } from './lifecycle.js';
import { StepWatch } from './step_watch.js';
import type { NonFiniteMode } from '../kernels/optimizer.js';
import { recordedConfigRefusal } from '../kernels/recorded_configs.js';
import { checkPairing, checkReserved, continueRun, encodeOptimizerState, loadOptimizerState, runMetadata } from './optimizer_checkpoint.js';
import { checkAutoCheckpoint, checkResumePosition, type TrainingSnapshot } from './auto_checkpoint.js';
import { runWithRecovery, type RecoveryInfo, type StepEndHook } from './resume.js';
import { checkSnapshotTarget } from './snapshot_file.js';
import { checkCheckpoint, decodeSafetensors, encodeSafetensors, type NamedTensor } from './safetensors.js';
import type { Predictor } from './predictor.js';
import { TrainerPredictors, type TrainerPredictorOptions } from './trainer_predictors.js';
import { evaluateOn } from './evaluate_data.js';
import { TASK_LOSS, batchLayout, checkFitData, checkTrainingData, compileTaskStep, firstSamples, layoutKey, modelOutputShape, taskMetrics, type BatchLayout, type TrainingData } from './task_step.js';
import { epochEvaluation, type AnyEvaluation, type Evaluation, type MultiLabelEvaluation, type RegressionEvaluation } from './task_metrics.js';
import type { EpochResult, FitOptions, ProfileOptions, TrainerOptions } from './trainer_options.js';

export type { TrainerOptions, Progress, EpochResult, FitOptions, ProfileOptions } from './trainer_options.js';
export type { Evaluation, RegressionEvaluation, MultiLabelEvaluation, AnyEvaluation, Evaluations } from './task_metrics.js';

/**
 * Trains a model entirely on the GPU: the dataset is uploaded once, every step (batch gather,
 * forward, loss, backward, update, metric sums) is one command buffer, and progress is read back
 * asynchronously. The loss follows the data: image datasets and classification `tensorDataset`s
 * train with softmax cross-entropy, regression ones with mean squared error, multi-label ones with
 * binary cross-entropy on logits. Without an optimizer it evaluates and predicts only.
 *
 * @example
 * using trainer = new Trainer(engine, { model, inputShape: [4], optimizer: new Adam({ lr: 1e-2 }), seed: 1 });
 * await trainer.fit(tensorDataset(x, y, { featureShape: [4], task: 'regression' }), { epochs: 20, batchSize: 32 });
 * const { r2, mae } = await trainer.evaluate(testData); // testData: a regression tensorDataset
 */
export class Trainer {
  readonly store: ParameterStore;
  /** One fit at a time; `dispose` stops a running fit. Shared with `distill`, which trains this trainer too. */
  readonly lifecycle = new Lifecycle('Trainer', () => this.release());
  private readonly evalSteps = new Map<string, CompiledStep<'x' | 'labels'>>();
  private evalDevice: GPUDevice | undefined;
  private readonly predictors: TrainerPredictors;
  private outputWidth: number | undefined;
  private counts: { runs: number; updates: number } | undefined;

  constructor(
    readonly engine: Engine,
    readonly options: TrainerOptions,
  ) {
    if (options.seed !== undefined) checkSeed('Trainer', options.seed);
    if (options.autoCheckpoint) checkAutoCheckpoint(options.autoCheckpoint);
    if (options.task !== undefined && !Object.hasOwn(TASK_LOSS, options.task)) throw new ShapeError(`Trainer: task '${String(options.task)}' must be one of ${Object.keys(TASK_LOSS).join(', ')}`);
    this.store = new ParameterStore(engine, { seed: options.seed ?? 0 });
    options.model.register(this.store);
    this.predictors = new TrainerPredictors(engine, options, this.store);
  }

  /** The model's output width (the class count of a classifier), traced from `inputShape`. */
  get classes(): number {
    this.outputWidth ??= modelOutputShape(this.options.model, this.store, this.options.inputShape).reduce((a, b) => a * b, 1);
    return this.outputWidth;
  }

  private trace(batch: number, layout: BatchLayout, training: boolean, minimize?: { onNonFinite?: NonFiniteMode }): Promise<CompiledStep<'x' | 'labels'>> {
    const { model, inputShape, clipNorm, ignoreIndex } = this.options;
    return compileTaskStep(this.engine, {
      model,
      store: this.store,
      inputShape,
      layout,
      batch,
      training,
      ignoreIndex,
      minimize: minimize && { optimizer: this.requireOptimizer('Trainer.fit'), clipNorm, onNonFinite: minimize.onNonFinite },
    });
  }

  /**
   * The training step's runs and updates when the last fit ended (its dropout and augmentation
   * streams' position, see `TrainingSnapshot`), for a checkpoint that records how far the run got;
   * undefined before any fit.
   */
  get fitCounts(): { runs: number; updates: number } | undefined {
    return this.counts && { ...this.counts };
  }

  /**
   * GPU time of every kernel of one training step, in launch order (timestamp queries; see
   * `CompiledStep.profile`), with the batch gather first. The steps run are real: parameters and
   * optimizer state are updated, as in `fit`. Only the first `batchSize` samples are uploaded.
   */
  profile(train: TrainingData, o: ProfileOptions = {}): Promise<PassTiming[]> {
    return this.lifecycle.fit('profile', () => this.profileSteps(train, o));
  }

  private async profileSteps(train: TrainingData, o: ProfileOptions): Promise<PassTiming[]> {
    const batch = o.batchSize ?? 128;
    this.requireOptimizer('Trainer.profile');
    this.checkDataset(train, 'profile');
    if (batch > train.count) throw new ShapeError(`batch size ${batch} exceeds the ${train.count} training samples`);
    const step = await this.trace(batch, batchLayout(train), true, {});
    try {
      return await profileTrainingStep(this.engine, step, firstSamples(train, batch), { batch, warmup: o.warmup ?? 2, normalisation: this.options.normalisation ?? UNIT_RANGE });
    } finally {
      step.dispose();
    }
  }

  /**
   * Trains for `o.epochs` epochs on an image dataset or a `tensorDataset` (the loss follows its
   * task) and resolves with one result per finished epoch. Needs `TrainerOptions.optimizer`. A
   * second `fit` while one runs is refused with a BusyError. `dispose()` during fit (from a
   * callback, say) stops it before its next step, frees everything once it has stopped, and fit
   * then resolves with the epochs finished so far.
   */
  fit(train: TrainingData, o: FitOptions): Promise<EpochResult[]> {
    return this.lifecycle.fit('fit', () => this.train(train, o));
  }

  private async train(train: TrainingData, o: FitOptions): Promise<EpochResult[]> {
    const batch = o.batchSize ?? 128;
    const optimizer = this.requireOptimizer('Trainer.fit');
    this.checkDataset(train, 'fit');
    checkEpochsAndBatch('fit', o.epochs, batch, train.count);
    checkFitData(train, o.evaluate, o.augment);
    if (o.evaluate) this.checkDataset(o.evaluate, 'fit (evaluate)');
    if (o.earlyStopping && !o.evaluate) throw new ShapeError('fit: earlyStopping watches the evaluation loss; pass `evaluate` data (a validation split) with it');
    if (o.onNonFinite !== undefined && o.onNonFinite !== 'error' && o.onNonFinite !== 'skip') {
      throw new ShapeError(`fit: onNonFinite '${String(o.onNonFinite)}' must be 'error' or 'skip'`);
    }
    const stopper = o.earlyStopping && new EarlyStopping(o.earlyStopping.patience, o.earlyStopping.minDelta);
    const auto = this.options.autoCheckpoint;
    if (auto && o.afterStep) throw new ShapeError('fit: afterStep records work on GPU objects of its own, which a device loss destroys and fit cannot rebuild; use either afterStep or autoCheckpoint');
    if (auto?.target) await checkSnapshotTarget(auto.target);
    if (o.resumeFrom) {
      checkResumePosition(o.resumeFrom, o.epochs, Math.floor(train.count / batch));
      this.engine.tuner.adopt(o.resumeFrom.kernels, recordedConfigRefusal);
      continueRun(this.store, o.resumeFrom.runId);
    }
    this.learningFrom(train);
    const layout = batchLayout(train);
    const classifies = layout.task === 'classification';
    let step = await this.trace(batch, layout, true, { onNonFinite: o.onNonFinite });
    const history: EpochResult[] = [];
    let recoveries: RecoveryInfo[] = [];
    const metrics = taskMetrics(layout.task);
    // Accuracy is counted on the GPU for classification only; the other tasks report NaN.
    const accuracyOf = (sums: Record<string, number>, counted: number) => (classifies ? sums.correct / (counted * batch) : NaN);
    const attempt = async (from: TrainingSnapshot | undefined, onStepEnd: StepEndHook | undefined) => {
      const loop = epochLoop({
        engine: this.engine,
        step,
        resume: from,
        onStepEnd,
        train,
        normalisation: this.options.normalisation ?? UNIT_RANGE,
        metrics,
        augment: o.augment,
        // A high key word of 1 keeps these draws apart from dropout masks, whose 32-bit seeds use
        // the same Philox streams (the step number).
        augmentSeed: 2 ** 32 + ((this.options.seed ?? 0) >>> 0),
        batch,
        epochs: o.epochs,
        seed: this.options.seed ?? 0,
        optimizer,
        schedule: o.schedule,
        afterStep: o.afterStep,
        beforeStep: o.beforeStep,
        progressEvery: o.progressEvery,
        stop: () => this.lifecycle.stopping,
        watch: new StepWatch({
          who: 'fit',
          runs: () => step.step,
          store: this.store,
          stepsPerEpoch: Math.floor(train.count / batch),
          invalidLabels: classifies ? { metric: 'invalid', classes: this.widthFor(layout) } : undefined,
        }),
        onProgress:
          o.onProgress &&
          ((p) => {
            const counted = p.step - p.skipped;
            o.onProgress!({ epoch: p.epoch, step: p.step, steps: p.steps, loss: p.sums.loss / counted, accuracy: accuracyOf(p.sums, counted), samplesPerSec: p.samplesPerSec, skippedSteps: p.skipped });
          }),
      });
      for await (const { epoch, steps, sums: s, skipped, seconds, lr } of loop) {
        // Resuming replays from a snapshot, which may lie in an epoch already reported.
        if (history.some((h) => h.epoch === epoch)) continue;
        const result: EpochResult = {
          epoch,
          loss: s.loss / (steps - skipped),
          trainAccuracy: accuracyOf(s, steps - skipped),
          samplesPerSec: (steps * batch) / seconds,
          seconds,
          lr,
          skippedSteps: skipped,
        };
        if (recoveries.length) [result.recoveries, recoveries] = [recoveries, []];
        if (this.lifecycle.stopping) break;
        if (o.evaluate) Object.assign(result, epochEvaluation(await this.evaluateData(o.evaluate)));
        history.push(result);
        o.onEpoch?.(result);
        if (stopper && result.evalLoss !== undefined && stopper.stale(result.evalLoss)) break;
      }
    };
    try {
      await runWithRecovery({
        engine: this.engine,
        store: this.store,
        optimizer,
        autoCheckpoint: auto,
        resumeFrom: o.resumeFrom,
        sumNames: metrics,
        step: () => step,
        attempt,
        rebuild: async () => {
          step.dispose();
          this.store.reallocate();
          step = await this.trace(batch, layout, true, { onNonFinite: o.onNonFinite });
        },
        onRecover: (info) => {
          recoveries.push(info);
          o.onRecover?.(info);
        },
      });
    } finally {
      this.counts = { runs: step.runCount, updates: step.step };
      step.dispose();
    }
    return history;
  }

  /**
   * Scores the model on `data` in evaluation mode, with the metrics of its task: loss, accuracy,
   * confusion matrix and per-class precision/recall/F1 for classification; loss (MSE), R² and MAE
   * for regression; loss (BCE), subset and per-label accuracy and mean F1 for multi-label.
   */
  evaluate(data: ImageDataset | TensorDataset<'classification'>, batchSize?: number): Promise<Evaluation>;
  evaluate(data: TensorDataset<'regression'>, batchSize?: number): Promise<RegressionEvaluation>;
  evaluate(data: TensorDataset<'multilabel'>, batchSize?: number): Promise<MultiLabelEvaluation>;
  evaluate(data: TrainingData, batchSize?: number): Promise<AnyEvaluation>;
  evaluate(data: TrainingData, batchSize = 500): Promise<AnyEvaluation> {
    return this.lifecycle.use('evaluate', () => this.evaluateData(data, batchSize));
  }

  private async evaluateData(data: TrainingData, batchSize = 500): Promise<AnyEvaluation> {
    this.checkDataset(data, 'evaluate');
    const layout = batchLayout(data);
    return evaluateOn(this.engine, data, {
      normalisation: this.options.normalisation ?? UNIT_RANGE,
      batchSize,
      width: this.widthFor(layout),
      ignoreIndex: this.options.ignoreIndex,
      stepFor: (n) => this.evalStep(n, layout),
    });
  }

  /** @internal The parameters now learn from `train`: its normalisation becomes byte inputs' default (`fit` says so, and `distill` for its student). */
  learningFrom(train: TrainingData): void {
    this.predictors.fitting(train);
  }

  /**
   * A `Predictor` over this trainer's parameters (shared, not copied: it sees every later update),
   * for inference with `predict(x)` / `predictClasses(x)`. It is disposed with the trainer, or
   * earlier by its own `dispose()`. `inputDType: 'u32'` for a model taking ids (an Embedding first).
   * Byte inputs are normalised by `normalisation` if given; else as the bytes the parameters last
   * learnt from were: by the later of the last `fit` or `distill` (its data's statistics: an image dataset's `channelNormalisation`,
   * a byte `tensorDataset`'s own; else `TrainerOptions.normalisation`) and the last `load` of a
   * checkpoint recording one (a CLI ResNet file's `config.normalisation`); else by `TrainerOptions.normalisation`.
   */
  predictor(options: TrainerPredictorOptions = {}): Predictor {
    this.lifecycle.check('predictor');
    return this.predictors.make(options);
  }

  /** Class probabilities (softmax of the logits) for `count` samples of raw pixel bytes (as stored in the dataset), normalised as `predictor()` does. */
  predict(images: Uint8Array, count: number): Promise<Float32Array> {
    return this.lifecycle.use('predict', () => this.predictors.probabilities(images, count, this.classes));
  }

  /**
   * Parameters and buffers (running statistics) as safetensors, named and laid out as the
   * equivalent PyTorch module's state_dict; all F32, so BatchNorm's `num_batches_tracked` (int64 in
   * PyTorch) is written as F32, which load_state_dict casts back. The metadata carries `run_id`
   * (drawn once per Trainer) and `step` (optimizer updates so far), as `optimizerCheckpoint` does,
   * so that a weights file and the optimizer file saved with it are known to belong together.
   */
  async checkpoint(metadata: Record<string, string> = {}): Promise<Uint8Array> {
    checkReserved(metadata, ['run_id', 'step']);
    const tensors: NamedTensor[] = [];
    for (const p of this.store.stateDict) tensors.push({ name: p.name, shape: p.shape, data: await this.store.read(p.name) });
    return encodeSafetensors(tensors, { format: 'pt', ...metadata, ...runMetadata(this.store) });
  }

  /**
   * Loads parameters and buffers saved by `checkpoint` (or by PyTorch's safetensors for the same
   * module). All or nothing: the whole file is checked first (format, names, shapes, finite
   * values, and the run id and step against optimizer state loaded just before), so a bad file
   * leaves the model as it was. A recorded normalisation becomes `predictor()`'s default.
   */
  load(bytes: Uint8Array, source = 'weights'): void {
    const { tensors, metadata } = decodeSafetensors(bytes, { source, requireFinite: true });
    checkCheckpoint(new Map(this.store.stateDict.map((p) => [p.name, p.shape])), tensors);
    const loaded = checkPairing(this.store, 'weights', metadata);
    const normalised = this.predictors.loading(metadata, source);
    for (const t of tensors.values()) this.store.write(t.name, t.data);
    loaded();
    normalised();
  }

  /**
   * The optimizer's state (Adam's moments, SGD's momentum buffers, the step count) as safetensors
   * named `<parameter>.exp_avg` and so on, kept apart from the weights so that the weights file
   * still loads strictly into the PyTorch module. After `load` and `loadOptimizer` the optimizer
   * carries on where it stopped; a new `fit` starts its own shuffle order and schedule.
   */
  async optimizerCheckpoint(metadata: Record<string, string> = {}): Promise<Uint8Array> {
    return encodeOptimizerState(this.store, this.requireOptimizer('Trainer.optimizerCheckpoint'), metadata);
  }

  /**
   * Loads state saved by `optimizerCheckpoint`; the optimizer must be of the same kind, and after
   * `load` the file must be the one saved with those weights (same run id and step). All or nothing.
   */
  loadOptimizer(bytes: Uint8Array, source = 'optimizer checkpoint'): void {
    loadOptimizerState(this.store, this.requireOptimizer('Trainer.loadOptimizer'), bytes, source);
  }

  /**
   * Frees the trainer's GPU memory, its predictors' included; using it afterwards throws a
   * DisposedError. During a fit this stops the fit before its next step, and the memory is freed
   * as soon as it has stopped.
   */
  dispose(): void {
    this.lifecycle.dispose();
  }

  /** `using trainer = new Trainer(…)` disposes it at the end of the block. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  private release(): void {
    this.predictors.disposeAll();
    for (const s of this.evalSteps.values()) s.dispose();
    this.evalSteps.clear();
    this.store.dispose();
  }

  /** The optimizer, or a clear error naming `who` for a trainer made without one. */
  requireOptimizer(who: string): Optimizer {
    const o = this.options.optimizer;
    if (!o) throw new ShapeError(`${who}: this trainer has no optimizer (TrainerOptions.optimizer), so it can only evaluate and predict; pass one, e.g. new Adam({ lr: 1e-3 })`);
    return o;
  }

  /** The output width a step of `layout` produces: the model's, which `checkDataset` matched to the data. */
  private widthFor(layout: BatchLayout): number {
    if (layout.xDType === 'f32') return this.classes;
    return modelOutputShape(this.options.model, this.store, this.options.inputShape, layout.xDType).reduce((a, b) => a * b, 1);
  }

  private async evalStep(batch: number, layout: BatchLayout): Promise<CompiledStep<'x' | 'labels'>> {
    if (this.evalDevice !== this.engine.device) {
      // Made on a device since lost and replaced (Engine.recover): remade on the new one.
      for (const old of this.evalSteps.values()) old.dispose();
      this.evalSteps.clear();
      this.evalDevice = this.engine.device;
    }
    const key = `${layoutKey(layout)}:${batch}`;
    let s = this.evalSteps.get(key);
    if (!s) {
      s = await this.trace(batch, layout, false);
      this.evalSteps.set(key, s);
    }
    return s;
  }

  /**
   * Throws unless `d` fits this trainer: its samples hold as many values as `inputShape`, its
   * task is the trainer's (`TrainerOptions.task`, if set), and the model's output width suits its
   * labels or targets (a ShapeError or DatasetError naming both shapes and the fix, prefixed by `who`).
   */
  checkDataset(d: TrainingData, who = ''): void {
    const layout = batchLayout(d);
    const output = modelOutputShape(this.options.model, this.store, this.options.inputShape, layout.xDType);
    checkTrainingData(who, d, this.options.inputShape, output, { task: this.options.task, classes: this.options.classes, ignoreIndex: this.options.ignoreIndex });
  }
}
