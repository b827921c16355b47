import { checkAugmentation, type Augmentation } from '../data/augment.js';
import { imageBytes, type ImageDataset } from '../data/dataset.js';
import { DatasetError } from '../data/idx.js';
import { isTensorDataset, type Task, type TensorDataset } from '../data/tensor_dataset.js';
import type { Engine } from '../gpu/engine.js';
import { ShapeError } from '../gpu/errors.js';
import { compileStep, type CompiledStep } from '../graph/compile.js';
import { createGraph } from '../graph/graph.js';
import type { DType, Graph, Value } from '../graph/ir.js';
import type { ParameterStore } from '../graph/params.js';
import type { NonFiniteMode } from '../kernels/optimizer.js';
import type { Module } from '../nn/module.js';
import type { Optimizer } from '../optim/optimizers.js';

/** Data a `Trainer` fits and evaluates: IDX-style images (classification) or a `tensorDataset`. */
export type TrainingData = ImageDataset | TensorDataset;

/** The losses by task: what `fit` minimises. */
export const TASK_LOSS = { classification: 'softmax cross-entropy', regression: 'mean squared error', multilabel: 'binary cross-entropy on logits' } as const satisfies Record<Task, string>;

/** The one-element outputs a training step of each task sums over an epoch (see `MetricSums`). */
export function taskMetrics(task: Task): string[] {
  return task === 'classification' ? ['loss', 'correct', 'invalid'] : ['loss'];
}

/** What one batch looks like to a compiled step: the task, the input dtype and the target row. */
export interface BatchLayout {
  task: Task;
  xDType: DType;
  /** Per sample: [] for class indices (u32), [k] for real targets or flags (f32). */
  targetShape: readonly number[];
}

export function batchLayout(d: TrainingData): BatchLayout {
  if (!isTensorDataset(d)) return { task: 'classification', xDType: 'f32', targetShape: [] };
  return { task: d.task, xDType: d.features instanceof Uint32Array ? 'u32' : 'f32', targetShape: d.task === 'classification' ? [] : [d.targetWidth] };
}

export function layoutKey(l: BatchLayout): string {
  return `${l.task}:${l.xDType}:${l.targetShape.join('x')}`;
}

/** The first `n` samples of `d`, as a dataset of the same kind (views, not copies). */
export function firstSamples<D extends TrainingData>(d: D, n: number): D {
  if (isTensorDataset(d)) {
    const x = d.features.length / d.count;
    return { ...d, count: n, features: d.features.subarray(0, n * x), targets: d.targets.subarray(0, n * d.targetWidth) };
  }
  const pixels = imageBytes(d);
  return { ...d, count: n, images: d.images.subarray(0, n * pixels), labels: d.labels.subarray(0, n) };
}

/** The per-sample shape of what `model` outputs for inputs of `inputShape`, traced on the CPU only. */
export function modelOutputShape(model: Module, store: ParameterStore, inputShape: readonly number[], dtype: DType = 'f32'): number[] {
  const g = createGraph();
  const y = model.apply(g, g.input('x', [1, ...inputShape], dtype), { store, training: false });
  return y.shape.slice(1);
}

/**
 * Checks that `d` fits a model taking `inputShape` and giving `output` per sample, for a trainer
 * set to `task` and `classes` (either may be absent). Every message names the dataset, the model's
 * shapes and the fix.
 */
export function checkTrainingData(caller: string, d: TrainingData, inputShape: readonly number[], output: readonly number[], want: { task?: Task; classes?: number; ignoreIndex?: number }): void {
  const who = caller ? `${caller}: ` : '';
  const inputs = inputShape.reduce((a, b) => a * b, 1);
  const layout = batchLayout(d);
  if (want.task !== undefined && want.task !== layout.task) {
    throw new DatasetError(`${who}the trainer is set to task '${want.task}' (${TASK_LOSS[want.task]}), but the data is a ${layout.task} dataset; pass data of that task, or leave TrainerOptions.task out`);
  }
  if (!isTensorDataset(d)) {
    if (imageBytes(d) !== inputs) {
      const channels = d.channels ?? 1;
      const size = channels === 1 ? `${d.height}×${d.width}` : `${channels}×${d.height}×${d.width}`;
      throw new ShapeError(`${who}dataset images are ${size} = ${imageBytes(d)} pixels, but the model takes [${inputShape.join(', ')}] = ${inputs}`);
    }
  } else if (d.features.length / d.count !== inputs) {
    throw new ShapeError(`${who}dataset samples are [${d.featureShape.join(', ')}], but the model takes inputShape [${inputShape.join(', ')}]; make featureShape and inputShape hold the same number of values`);
  }
  if (output.length !== 1) {
    throw new ShapeError(`${who}the model outputs [batch, ${output.join(', ')}] per batch; a ${layout.task} trainer needs [batch, width]: end the model with a Linear layer (or Flatten)`);
  }
  const width = output[0];
  if (layout.task === 'classification') {
    if (want.classes !== undefined && want.classes !== width) {
      throw new ShapeError(`${who}the model outputs [batch, ${width}]; a classifier of ${want.classes} classes needs [batch, ${want.classes}]`);
    }
    if (isTensorDataset(d) && d.ignoreIndex !== undefined && d.ignoreIndex !== want.ignoreIndex) {
      throw new DatasetError(`${who}the dataset leaves out rows labelled ${d.ignoreIndex} (its ignoreIndex), but the trainer's ignoreIndex is ${want.ignoreIndex ?? 'not set'}; give the Trainer ignoreIndex: ${d.ignoreIndex}`);
    }
    const classes = isTensorDataset(d) ? d.classes! : d.classes;
    if (classes > width) throw new ShapeError(`${who}dataset has labels up to ${classes - 1}, but the model has ${width} classes (outputs [batch, ${width}])`);
    return;
  }
  if (want.classes !== undefined) {
    throw new ShapeError(`${who}TrainerOptions.classes is for classification; a ${layout.task} model's width comes from the data ([count, ${layout.targetShape[0]}]): leave classes out`);
  }
  const k = layout.targetShape[0];
  if (width !== k) {
    const what = layout.task === 'regression' ? `${k} target value${k === 1 ? '' : 's'}` : `${k} labels`;
    throw new ShapeError(`${who}the model outputs [batch, ${width}], but each sample has ${what}; end the model with a layer of ${k} outputs`);
  }
}

/** The checks of `fit` that concern its data beyond `checkTrainingData`: augmentation, and the evaluation data's task. */
export function checkFitData(train: TrainingData, evaluate: TrainingData | undefined, augment: Augmentation | undefined): void {
  if (augment) {
    if (isTensorDataset(train)) throw new ShapeError('fit: augment transforms single-channel images; a tensor dataset has no image geometry to transform: leave augment out');
    checkAugmentation(augment, train);
  }
  if (evaluate && batchLayout(evaluate).task !== batchLayout(train).task) {
    throw new ShapeError(`fit: the evaluate data is a ${batchLayout(evaluate).task} dataset but the training data is ${batchLayout(train).task}; evaluate on data of the same task`);
  }
}

export interface TaskStepOptions {
  model: Module;
  store: ParameterStore;
  inputShape: readonly number[];
  layout: BatchLayout;
  batch: number;
  /** Forward in training mode (dropout, batch statistics). */
  training: boolean;
  /** Classification only: PyTorch's ignore_index. */
  ignoreIndex?: number;
  /** Present: a training step minimising the task's loss. */
  minimize?: { optimizer: Optimizer; clipNorm?: number; onNonFinite?: NonFiniteMode };
}

/**
 * A step with inputs 'x' [batch, ...inputShape] and 'labels' (class indices [batch] or targets
 * [batch, k]) and outputs 'loss', 'logits' and, for classification, 'correct' and 'invalid'.
 */
export function compileTaskStep(engine: Engine, o: TaskStepOptions): Promise<CompiledStep<'x' | 'labels'>> {
  const { layout, batch, store } = o;
  const labels = layout.task === 'classification' ? { shape: [batch], dtype: 'u32' as const } : { shape: [batch, ...layout.targetShape] };
  return compileStep(engine, {
    inputs: { x: { shape: [batch, ...o.inputShape], dtype: layout.xDType }, labels },
    stores: [store],
    build: (g, { x, labels }) => {
      const logits = o.model.apply(g, x, { store, training: o.training });
      const outputs = taskLoss(g, layout.task, logits, labels, o.ignoreIndex);
      const m = o.minimize;
      return { outputs, minimize: m && { loss: outputs.loss, store, optimizer: m.optimizer, clipNorm: m.clipNorm, onNonFinite: m.onNonFinite } };
    },
  });
}

function taskLoss(g: Graph, task: Task, logits: Value, labels: Value, ignoreIndex: number | undefined): Record<string, Value> {
  switch (task) {
    case 'classification': {
      const [loss, , correct, invalid] = g.apply('softmax_cross_entropy', [logits, labels], { ignoreIndex });
      return { loss, correct, invalid, logits };
    }
    case 'regression':
      return { loss: g.apply('mse', [logits, labels], {})[0], logits };
    case 'multilabel':
      return { loss: g.apply('bce_with_logits', [logits, labels], {})[0], logits };
    default:
      return task satisfies never;
  }
}
