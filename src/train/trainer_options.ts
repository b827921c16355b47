import type { Augmentation } from '../data/augment.js';
import type { Task } from '../data/tensor_dataset.js';
import type { Normalisation } from '../data/gpu_dataset.js';
import type { NonFiniteMode } from '../kernels/optimizer.js';
import type { Module } from '../nn/module.js';
import type { Optimizer } from '../optim/optimizers.js';
import type { AutoCheckpointOptions, TrainingSnapshot } from './auto_checkpoint.js';
import type { AnyEvaluation } from './task_metrics.js';
import type { TrainingData } from './task_step.js';
import type { RecoveryInfo } from './resume.js';
import type { Schedule } from './schedules.js';

/* The options and results of `Trainer` (see trainer.ts). */

/** Options of `new Trainer(engine, options)`: the model and its input, the task's class count, the optimizer, the seed, and how training guards against bad labels and device loss. */
export interface TrainerOptions {
  model: Module;
  /**
   * Shape of one sample as the model takes it: [784] for an MLP, [1, 28, 28] for a CNN. A dataset's
   * samples must hold as many values (images: height × width; tensor datasets: featureShape).
   */
  inputShape: readonly number[];
  /**
   * Classification: the number of classes, checked against the model's output width when given
   * (default: that width). Regression and multi-label take their width from the data; leave it out.
   */
  classes?: number;
  /** Needed to fit; a trainer without one only evaluates and predicts (`fit` refuses clearly). */
  optimizer?: Optimizer;
  /**
   * What the trainer is for: 'classification' (softmax cross-entropy), 'regression' (mean squared
   * error) or 'multilabel' (binary cross-entropy on logits). Default: the task of the data given
   * to fit (image datasets are classification); when set, data of another task is refused.
   */
  task?: Task;
  /** Seeds parameter initialisation, shuffling and augmentation. */
  seed?: number;
  normalisation?: Normalisation;
  /** Global-norm gradient clipping. */
  clipNorm?: number;
  /**
   * A label value whose rows count in neither the loss nor its gradient (PyTorch's ignore_index:
   * the mean is over the rows kept). Default: none. Any other label ≥ `classes` met in training
   * stops `fit` with a DatasetError naming the step.
   */
  ignoreIndex?: number;
  /**
   * Snapshots of the training state every `everySteps` steps (kept in memory, and at `target` if
   * given), from which `fit` resumes by itself when the GPU device is lost: the engine opens a new
   * device (`Engine.recover`), and training continues exactly as it would have. Without it, a
   * device loss fails `fit` with a DeviceLostError.
   */
  autoCheckpoint?: AutoCheckpointOptions;
}

/** Running figures of the current epoch, passed to `FitOptions.onProgress`. */
export interface Progress {
  epoch: number;
  /** Steps done in this epoch, and per epoch. */
  step: number;
  steps: number;
  /** Mean training loss and accuracy over the epoch so far (accuracy: classification only, else NaN). */
  loss: number;
  accuracy: number;
  samplesPerSec: number;
  /** Steps of this epoch so far skipped for non-finite values (`onNonFinite: 'skip'`). */
  skippedSteps: number;
}

/** What one epoch of `Trainer.fit` did, passed to `FitOptions.onEpoch` and returned by `fit`, one per epoch. */
export interface EpochResult {
  epoch: number;
  loss: number;
  /** Counted on the GPU for classification; NaN for regression and multi-label (see `evaluation`). */
  trainAccuracy: number;
  samplesPerSec: number;
  seconds: number;
  lr: number;
  /**
   * Steps of the epoch whose update was skipped because their loss or gradients were NaN/Inf
   * (`onNonFinite: 'skip'`); loss and accuracy are means over the other steps.
   */
  skippedSteps: number;
  /**
   * On the evaluation set given to fit (test or validation), if any: its loss, its accuracy
   * (classification; subset accuracy for multi-label; absent for regression), and everything
   * `Trainer.evaluate` reports for it (R² and MAE for regression, F1 for multi-label).
   */
  evalLoss?: number;
  evalAccuracy?: number;
  evaluation?: AnyEvaluation;
  /** Device losses recovered from during this epoch (see `TrainerOptions.autoCheckpoint`). */
  recoveries?: RecoveryInfo[];
}

/** Options of `Trainer.fit`: epochs, batch size, evaluation, schedule, callbacks, augmentation and what to do on NaN/Inf. */
export interface FitOptions {
  epochs: number;
  batchSize?: number;
  /** Data evaluated after every epoch (loss and accuracy in EpochResult), of the training data's task. */
  evaluate?: TrainingData;
  /** Learning rate per step from the optimizer's base rate; changed without recompiling. */
  schedule?: Schedule;
  /** Stop when the evaluation loss has not improved by `minDelta` for `patience` epochs. */
  earlyStopping?: { patience: number; minDelta?: number };
  /** Called about every `progressEvery` steps with running figures (read without stalling). */
  onProgress?: (p: Progress) => void;
  progressEvery?: number;
  /** Called after every epoch, with its figures (and the evaluation, if any). */
  onEpoch?: (r: EpochResult) => void;
  /**
   * Random affine augmentation of the training batches (translation, rotation, scale; see
   * `Augmentation`), applied by the batch-gather kernel on the GPU, with fresh transforms every step
   * drawn from `TrainerOptions.seed`, so a run is reproducible. Evaluation and `predict` never
   * augment. Bad values throw a `ShapeError` before any GPU work.
   */
  augment?: Augmentation;
  /**
   * Recorded after every optimizer step in the same command buffer, e.g. `(e) => pruner.encode(e)`
   * to keep pruned weights at zero while fine-tuning.
   */
  afterStep?: (encoder: GPUCommandEncoder) => void;
  /**
   * Called before every step; a promise it returns is awaited before the step is recorded, so
   * training can pause between steps (the Web Worker host's pause). The learning rate can be
   * changed while paused, or at any time through `schedule`.
   */
  beforeStep?: () => Promise<void> | undefined;
  /**
   * What a step whose loss or gradients are NaN/Inf does. The GPU tests every step and applies no
   * update from it, and the CPU learns of it at the next metric readback (every `progressEvery`
   * steps, without stalling, and at the epoch's end). 'error' (default): no later step updates either, and fit rejects with a DivergenceError
   * naming the step and the first non-finite tensor; the parameters are the last finite ones.
   * 'skip': only that step's update is skipped (parameters and optimizer moments unchanged; Adam's
   * step count is corrected at the next readback, so steps submitted before it use a count one
   * higher per skip), and EpochResult.skippedSteps counts them. BatchNorm running statistics are
   * updated by the forward pass and are not protected.
   */
  onNonFinite?: NonFiniteMode;
  /** Called when training resumed from a snapshot after the device was lost ("resumed from step N"). */
  onRecover?: (info: RecoveryInfo) => void;
  /**
   * Start from a snapshot an earlier fit saved (`decodeSnapshot` of its `autoCheckpoint.target`),
   * e.g. after the process was killed: weights, optimizer state and position are loaded, and the
   * fit (same epochs, batch size, data, seed and options as the one that saved it) continues as
   * that one would have.
   */
  resumeFrom?: TrainingSnapshot;
}

/** Options of `Trainer.profile`. */
export interface ProfileOptions {
  batchSize?: number;
  /** Ordinary steps run first, so one-time costs (shader compilation in the driver) are not timed. */
  warmup?: number;
}
