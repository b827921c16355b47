import type { Engine } from '../gpu/engine.js';
import { checkSeed } from './seed.js';
import { ShapeError } from '../gpu/errors.js';
import { compileStep, type CompiledStep } from '../graph/compile.js';
import { TimestampProfiler, type PassTiming } from '../gpu/profiler.js';
import { ParameterStore } from '../graph/params.js';
import { checkAugmentation } from '../data/augment.js';
import { GpuImageDataset, UNIT_RANGE, type Batcher } from '../data/gpu_dataset.js';
import type { ImageDataset } from '../data/dataset.js';
import { argmaxRows, classificationReport, confusionMatrix } from './metrics.js';
import { checkEpochsAndBatch, epochLoop } from './epoch_loop.js';
import { EarlyStopping } from './early_stopping.js';
import { Lifecycle } from './lifecycle.js';
import { StepWatch } from './step_watch.js';
import type { NonFiniteMode } from '../kernels/optimizer.js';
import { DatasetError } from '../data/idx.js';
import { checkPairing, checkReserved, encodeOptimizerState, loadOptimizerState, runMetadata } from './optimizer_checkpoint.js';
import { checkAutoCheckpoint, checkResumePosition, type TrainingSnapshot } from './auto_checkpoint.js';
import { runWithRecovery, type RecoveryInfo, type StepEndHook } from './resume.js';
import { checkSnapshotTarget } from './snapshot_file.js';
import { checkCheckpoint, decodeSafetensors, encodeSafetensors, type NamedTensor } from './safetensors.js';
import type { EpochResult, Evaluation, FitOptions, ProfileOptions, TrainerOptions } from './trainer_options.js';

export type { TrainerOptions, Progress, EpochResult, FitOptions, ProfileOptions, Evaluation } from './trainer_options.js';

/**
 * Trains a classifier on an image dataset entirely on the GPU: the dataset is uploaded once, every
 * step (batch gather, forward, loss, backward, update, metric sums) is one command buffer, and
 * progress is read back asynchronously.
 */
export class Trainer {
  readonly store: ParameterStore;
  /** One fit at a time; `dispose` stops a running fit. Shared with `distill`, which trains this trainer too. */
  readonly lifecycle = new Lifecycle('Trainer', () => this.release());
  private readonly evalSteps = new Map<number, CompiledStep<'x' | 'labels'>>();
  private evalDevice: GPUDevice | undefined;

  constructor(
    readonly engine: Engine,
    readonly options: TrainerOptions,
  ) {
    if (options.seed !== undefined) checkSeed('Trainer', options.seed);
    if (options.autoCheckpoint) checkAutoCheckpoint(options.autoCheckpoint);
    this.store = new ParameterStore(engine, { seed: options.seed ?? 0 });
    options.model.register(this.store);
  }

  private trace(batch: number, training: boolean, minimize: boolean, onNonFinite?: NonFiniteMode): Promise<CompiledStep<'x' | 'labels'>> {
    const { model, inputShape, optimizer } = this.options;
    const store = this.store;
    return compileStep(this.engine, {
      inputs: { x: { shape: [batch, ...inputShape] }, labels: { shape: [batch], dtype: 'u32' } },
      stores: [store],
      build: (g, { x, labels }) => {
        const logits = model.apply(g, x, { store, training });
        if (logits.shape.length !== 2 || logits.shape[1] !== this.options.classes) {
          throw new ShapeError(`the model outputs [${logits.shape.join(', ')}]; a classifier of ${this.options.classes} classes needs [batch, ${this.options.classes}]`);
        }
        const [loss, , correct, invalid] = g.apply('softmax_cross_entropy', [logits, labels], { ignoreIndex: this.options.ignoreIndex });
        return {
          outputs: { loss, correct, invalid, logits },
          minimize: minimize ? { loss, store, optimizer, clipNorm: this.options.clipNorm, onNonFinite } : undefined,
        };
      },
    });
  }

  /**
   * GPU time of every kernel of one training step, in launch order (timestamp queries; see
   * `CompiledStep.profile`), with the batch gather first. The steps run are real: parameters and
   * optimizer state are updated, as in `fit`. Only the first `batchSize` samples are uploaded.
   */
  profile(train: ImageDataset, o: ProfileOptions = {}): Promise<PassTiming[]> {
    return this.lifecycle.fit('profile', () => this.profileSteps(train, o));
  }

  private async profileSteps(train: ImageDataset, o: ProfileOptions): Promise<PassTiming[]> {
    const batch = o.batchSize ?? 128;
    this.checkDataset(train);
    if (batch > train.count) throw new ShapeError(`batch size ${batch} exceeds the ${train.count} training samples`);
    const pixels = train.height * train.width;
    const sample: ImageDataset = { ...train, count: batch, images: train.images.subarray(0, batch * pixels), labels: train.labels.subarray(0, batch) };
    const step = await this.trace(batch, true, true);
    const data = new GpuImageDataset(this.engine, sample, this.options.normalisation ?? UNIT_RANGE);
    try {
      const batcher = await data.batcher(batch, step.inputRange('x'), step.inputRange('labels'));
      try {
        for (let i = 0; i < (o.warmup ?? 2); i++) step.run({}, { before: (e) => batcher.encode(e, 0) });
        await this.engine.sync();
        // The gather is timed in a pass of its own, like every kernel of the step.
        const gather = new TimestampProfiler(this.engine, 1);
        try {
          const encoder = this.engine.device.createCommandEncoder();
          batcher.encode(encoder, 0, 0, (e, name) => gather.beginPass(e, name));
          gather.resolve(encoder);
          this.engine.device.queue.submit([encoder.finish()]);
          const [gatherTiming] = await gather.read();
          return [gatherTiming, ...(await step.profile())];
        } finally {
          gather.dispose();
        }
      } finally {
        batcher.dispose();
      }
    } finally {
      data.dispose();
      step.dispose();
    }
  }

  /**
   * Trains for `o.epochs` epochs and resolves with one result per finished epoch. A second `fit`
   * while one runs is refused with a BusyError. `dispose()` during fit (from a callback, say) stops
   * it before its next step, frees everything once it has stopped, and fit then resolves with the
   * epochs finished so far.
   */
  fit(train: ImageDataset, o: FitOptions): Promise<EpochResult[]> {
    return this.lifecycle.fit('fit', () => this.train(train, o));
  }

  private async train(train: ImageDataset, o: FitOptions): Promise<EpochResult[]> {
    const batch = o.batchSize ?? 128;
    this.checkDataset(train);
    checkEpochsAndBatch('fit', o.epochs, batch, train.count);
    if (o.augment) checkAugmentation(o.augment, train);
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
      this.engine.tuner.adopt(o.resumeFrom.kernels);
    }
    let step = await this.trace(batch, true, true, o.onNonFinite);
    const history: EpochResult[] = [];
    let recoveries: RecoveryInfo[] = [];
    const metrics = ['loss', 'correct', 'invalid'];
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
        optimizer: this.options.optimizer,
        schedule: o.schedule,
        afterStep: o.afterStep,
        beforeStep: o.beforeStep,
        progressEvery: o.progressEvery,
        stop: () => this.lifecycle.stopping,
        watch: new StepWatch({ who: 'fit', runs: () => step.step, store: this.store, stepsPerEpoch: Math.floor(train.count / batch), invalidLabels: { metric: 'invalid', classes: this.options.classes } }),
        onProgress:
          o.onProgress &&
          ((p) => {
            const counted = p.step - p.skipped;
            o.onProgress!({ epoch: p.epoch, step: p.step, steps: p.steps, loss: p.sums.loss / counted, accuracy: p.sums.correct / (counted * batch), samplesPerSec: p.samplesPerSec, skippedSteps: p.skipped });
          }),
      });
      for await (const { epoch, steps, sums: s, skipped, seconds, lr } of loop) {
        // Resuming replays from a snapshot, which may lie in an epoch already reported.
        if (history.some((h) => h.epoch === epoch)) continue;
        const result: EpochResult = {
          epoch,
          loss: s.loss / (steps - skipped),
          trainAccuracy: s.correct / ((steps - skipped) * batch),
          samplesPerSec: (steps * batch) / seconds,
          seconds,
          lr,
          skippedSteps: skipped,
        };
        if (recoveries.length) [result.recoveries, recoveries] = [recoveries, []];
        if (this.lifecycle.stopping) break;
        if (o.evaluate) {
          const e = await this.evaluateData(o.evaluate);
          result.evalLoss = e.loss;
          result.evalAccuracy = e.accuracy;
        }
        history.push(result);
        o.onEpoch?.(result);
        if (stopper && result.evalLoss !== undefined && stopper.stale(result.evalLoss)) break;
      }
    };
    try {
      await runWithRecovery({
        engine: this.engine,
        store: this.store,
        optimizer: this.options.optimizer,
        autoCheckpoint: auto,
        resumeFrom: o.resumeFrom,
        sumNames: metrics,
        step: () => step,
        attempt,
        rebuild: async () => {
          step.dispose();
          this.store.reallocate();
          step = await this.trace(batch, true, true, o.onNonFinite);
        },
        onRecover: (info) => {
          recoveries.push(info);
          o.onRecover?.(info);
        },
      });
    } finally {
      step.dispose();
    }
    return history;
  }

  /** Loss, accuracy, confusion matrix and per-class precision/recall/F1 on `data`. */
  evaluate(data: ImageDataset, batchSize = 500): Promise<Evaluation> {
    return this.lifecycle.use('evaluate', () => this.evaluateData(data, batchSize));
  }

  private async evaluateData(data: ImageDataset, batchSize = 500): Promise<Evaluation> {
    this.checkDataset(data);
    const { classes, ignoreIndex } = this.options;
    // Labels are on the CPU here: check them all at once rather than score a label with no logit.
    const bad = data.labels.findIndex((l) => l >= classes && l !== ignoreIndex);
    if (bad >= 0) throw new DatasetError(`evaluate: sample ${bad} has label ${data.labels[bad]}, but the model has ${classes} classes (labels 0…${classes - 1}${ignoreIndex === undefined ? '' : `, or the ignored ${ignoreIndex}`})`);
    const gpu = new GpuImageDataset(this.engine, data, this.options.normalisation ?? UNIT_RANGE);
    const predictions = new Uint32Array(data.count);
    const batchers = new Map<number, Batcher>();
    let loss = 0;
    try {
      for (let start = 0; start < data.count; start += batchSize) {
        const n = Math.min(batchSize, data.count - start);
        const step = await this.evalStep(n);
        let batcher = batchers.get(n);
        if (!batcher) {
          batcher = await gpu.batcher(n, step.inputRange('x'), step.inputRange('labels'));
          batchers.set(n, batcher);
        }
        const b = batcher;
        // The dataset keeps its identity order here, so the gather reads samples start … start + n.
        step.run({}, { before: (e) => b.encode(e, start) });
        const logits = await step.read('logits');
        predictions.set(argmaxRows(logits, classes), start);
        for (let r = 0; r < n; r++) {
          const label = data.labels[start + r];
          if (label !== ignoreIndex) loss += crossEntropy(logits.subarray(r * classes, (r + 1) * classes), label);
        }
      }
    } finally {
      for (const b of batchers.values()) b.dispose();
      gpu.dispose();
    }
    // Rows with the ignored label count nowhere, as in training.
    const kept = data.labels.reduce<number[]>((rows, l, i) => (l !== ignoreIndex && rows.push(i), rows), []);
    const keptLabels = kept.length === data.count ? data.labels : Uint32Array.from(kept, (i) => data.labels[i]);
    const keptPredictions = kept.length === data.count ? predictions : Uint32Array.from(kept, (i) => predictions[i]);
    const confusion = confusionMatrix(keptLabels, keptPredictions, Math.max(classes, data.classes));
    const report = classificationReport(confusion);
    return { loss: loss / kept.length, accuracy: report.accuracy, confusion, perClass: report.perClass, macroF1: report.macroF1 };
  }

  /** Class probabilities for `count` samples of raw pixel bytes (as stored in the dataset). */
  predict(images: Uint8Array, count: number): Promise<Float32Array> {
    return this.lifecycle.use('predict', () => this.probabilities(images, count));
  }

  private async probabilities(images: Uint8Array, count: number): Promise<Float32Array> {
    const pixels = this.options.inputShape.reduce((a, b) => a * b, 1);
    if (images.length !== count * pixels) throw new ShapeError(`predict: ${images.length} bytes for ${count} samples of ${pixels} pixels`);
    const { mean, std } = this.options.normalisation ?? UNIT_RANGE;
    const step = await this.evalStep(count);
    step.run({ x: Float32Array.from(images, (v) => (v / 255 - mean) / std), labels: new Uint32Array(count) });
    const logits = await step.read('logits');
    const c = this.options.classes;
    const out = new Float32Array(logits.length);
    for (let r = 0; r < count; r++) {
      const row = logits.subarray(r * c, (r + 1) * c);
      const max = Math.max(...row);
      let z = 0;
      for (let k = 0; k < c; k++) z += Math.exp(row[k] - max);
      for (let k = 0; k < c; k++) out[r * c + k] = Math.exp(row[k] - max) / z;
    }
    return out;
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
   * leaves the model as it was.
   */
  load(bytes: Uint8Array, source = 'weights'): void {
    const { tensors, metadata } = decodeSafetensors(bytes, { source, requireFinite: true });
    checkCheckpoint(new Map(this.store.stateDict.map((p) => [p.name, p.shape])), tensors);
    const loaded = checkPairing(this.store, 'weights', metadata);
    for (const t of tensors.values()) this.store.write(t.name, t.data);
    loaded();
  }

  /**
   * The optimizer's state (Adam's moments, SGD's momentum buffers, the step count) as safetensors
   * named `<parameter>.exp_avg` and so on, kept apart from the weights so that the weights file
   * still loads strictly into the PyTorch module. After `load` and `loadOptimizer` the optimizer
   * carries on where it stopped; a new `fit` starts its own shuffle order and schedule.
   */
  optimizerCheckpoint(metadata: Record<string, string> = {}): Promise<Uint8Array> {
    return encodeOptimizerState(this.store, this.options.optimizer, metadata);
  }

  /**
   * Loads state saved by `optimizerCheckpoint`; the optimizer must be of the same kind, and after
   * `load` the file must be the one saved with those weights (same run id and step). All or nothing.
   */
  loadOptimizer(bytes: Uint8Array, source = 'optimizer checkpoint'): void {
    loadOptimizerState(this.store, this.options.optimizer, bytes, source);
  }

  /**
   * Frees the trainer's GPU memory; using it afterwards throws a DisposedError. During a fit this
   * stops the fit before its next step, and the memory is freed as soon as it has stopped.
   */
  dispose(): void {
    this.lifecycle.dispose();
  }

  private release(): void {
    for (const s of this.evalSteps.values()) s.dispose();
    this.evalSteps.clear();
    this.store.dispose();
  }

  private async evalStep(batch: number): Promise<CompiledStep<'x' | 'labels'>> {
    if (this.evalDevice !== this.engine.device) {
      // Made on a device since lost and replaced (Engine.recover): remade on the new one.
      for (const old of this.evalSteps.values()) old.dispose();
      this.evalSteps.clear();
      this.evalDevice = this.engine.device;
    }
    let s = this.evalSteps.get(batch);
    if (!s) {
      s = await this.trace(batch, false, false);
      this.evalSteps.set(batch, s);
    }
    return s;
  }

  /** Throws a ShapeError unless `d`'s images and labels fit this trainer's model. */
  checkDataset(d: ImageDataset): void {
    const pixels = this.options.inputShape.reduce((a, b) => a * b, 1);
    if (d.height * d.width !== pixels) {
      throw new ShapeError(`dataset images are ${d.height}×${d.width} = ${d.height * d.width} pixels, but the model takes [${this.options.inputShape.join(', ')}] = ${pixels}`);
    }
    if (d.classes > this.options.classes) {
      throw new ShapeError(`dataset has labels up to ${d.classes - 1}, but the model has ${this.options.classes} classes`);
    }
  }
}

function crossEntropy(row: Float32Array, label: number): number {
  const max = Math.max(...row);
  let z = 0;
  for (const v of row) z += Math.exp(v - max);
  return -(row[label] - max - Math.log(z));
}
