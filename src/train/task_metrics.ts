import { DatasetError } from '../data/idx.js';
import type { Task } from '../data/tensor_dataset.js';
import { argmaxRows, classificationReport, confusionMatrix, type ClassReport } from './metrics.js';

/* What `Trainer.evaluate` computes from the model's outputs, per task, in float64 on the CPU. */

/** Classification: loss (mean cross-entropy), accuracy, confusion matrix and per-class precision/recall/F1. */
export interface Evaluation {
  task: 'classification';
  loss: number;
  accuracy: number;
  confusion: number[][];
  perClass: ClassReport[];
  macroF1: number;
}

/** Regression: loss (mean squared error over every value), R² and mean absolute error. */
export interface RegressionEvaluation {
  task: 'regression';
  loss: number;
  /** Coefficient of determination, averaged over the outputs (scikit-learn's r2_score 'uniform_average'). */
  r2: number;
  mae: number;
  /** Per output column. */
  perOutput: { r2: number; mae: number }[];
}

/** Multi-label: each label is predicted present when its logit is > 0 (probability > 0.5). */
export interface MultiLabelEvaluation {
  task: 'multilabel';
  /** Mean binary cross-entropy over every label of every sample. */
  loss: number;
  /** Samples whose every label is right (scikit-learn's accuracy_score on multi-label data). */
  subsetAccuracy: number;
  /** Label decisions that are right, over all samples and labels (1 − Hamming loss). */
  labelAccuracy: number;
  /** Unweighted mean of the per-label F1 scores (scikit-learn's f1_score average='macro', zero_division=0). */
  meanF1: number;
  /** Precision, recall and F1 of each label as a binary problem; support counts its positive samples. */
  perLabel: ClassReport[];
}

/** What `Trainer.evaluate` returns, per task. */
export interface Evaluations {
  classification: Evaluation;
  regression: RegressionEvaluation;
  multilabel: MultiLabelEvaluation;
}

/** The evaluation of a dataset of any task; `task` tells which. */
export type AnyEvaluation = Evaluations[Task];

/** What an epoch reports of an evaluation: its loss, an accuracy where the task has one, and the whole. */
export function epochEvaluation(e: AnyEvaluation): { evalLoss: number; evalAccuracy?: number; evaluation: AnyEvaluation } {
  const accuracy = e.task === 'classification' ? e.accuracy : e.task === 'multilabel' ? e.subsetAccuracy : undefined;
  return { evalLoss: e.loss, ...(accuracy === undefined ? {} : { evalAccuracy: accuracy }), evaluation: e };
}

/**
 * Scores class logits [count, classes]. Rows labelled `ignoreIndex` count nowhere, as in training;
 * any other label ≥ `classes` is a DatasetError (there is no logit to score it with).
 */
export function classificationEvaluation(logits: Float32Array, labels: ArrayLike<number>, classes: number, ignoreIndex: number | undefined, dataClasses = classes): Evaluation {
  const count = labels.length;
  for (let i = 0; i < count; i++) {
    const l = labels[i];
    if (l >= classes && l !== ignoreIndex) {
      throw new DatasetError(`evaluate: sample ${i} has label ${l}, but the model has ${classes} classes (labels 0…${classes - 1}${ignoreIndex === undefined ? '' : `, or the ignored ${ignoreIndex}`})`);
    }
  }
  const predictions = argmaxRows(logits, classes);
  const kept: number[] = [];
  let loss = 0;
  for (let r = 0; r < count; r++) {
    if (labels[r] === ignoreIndex) continue;
    kept.push(r);
    loss += crossEntropy(logits.subarray(r * classes, (r + 1) * classes), labels[r]);
  }
  const confusion = confusionMatrix(
    kept.map((i) => labels[i]),
    kept.map((i) => predictions[i]),
    Math.max(classes, dataClasses),
  );
  const report = classificationReport(confusion);
  return { task: 'classification', loss: loss / kept.length, accuracy: report.accuracy, confusion, perClass: report.perClass, macroF1: report.macroF1 };
}

/** Scores predictions [count, k] against targets of the same layout. */
export function regressionEvaluation(predictions: Float32Array, targets: Float32Array, k: number): RegressionEvaluation {
  const count = targets.length / k;
  const perOutput: { r2: number; mae: number }[] = [];
  let squared = 0;
  let absolute = 0;
  for (let j = 0; j < k; j++) {
    let mean = 0;
    for (let i = 0; i < count; i++) mean += targets[i * k + j];
    mean /= count;
    let residual = 0;
    let total = 0;
    let abs = 0;
    for (let i = 0; i < count; i++) {
      const t = targets[i * k + j];
      const e = predictions[i * k + j] - t;
      residual += e * e;
      total += (t - mean) ** 2;
      abs += Math.abs(e);
    }
    squared += residual;
    absolute += abs;
    // A constant target has no variance to explain: 1 when matched exactly, else 0 (as scikit-learn).
    const r2 = total > 0 ? 1 - residual / total : residual === 0 ? 1 : 0;
    perOutput.push({ r2, mae: abs / count });
  }
  return { task: 'regression', loss: squared / targets.length, r2: perOutput.reduce((a, o) => a + o.r2, 0) / k, mae: absolute / targets.length, perOutput };
}

/** Scores logits [count, labels] against 0/1 flags of the same layout. */
export function multiLabelEvaluation(logits: Float32Array, flags: Float32Array, labels: number): MultiLabelEvaluation {
  const count = flags.length / labels;
  const counts = Array.from({ length: labels }, () => ({ tp: 0, fp: 0, fn: 0 }));
  let loss = 0;
  let rightRows = 0;
  let right = 0;
  for (let i = 0; i < count; i++) {
    let rowRight = true;
    for (let j = 0; j < labels; j++) {
      const x = logits[i * labels + j];
      const t = flags[i * labels + j];
      // max(x, 0) − x·t + log(1 + e^−|x|): the stable form of −t·log σ(x) − (1 − t)·log(1 − σ(x)).
      loss += Math.max(x, 0) - x * t + Math.log1p(Math.exp(-Math.abs(x)));
      const predicted = x > 0;
      const actual = t === 1;
      if (predicted === actual) right++;
      else rowRight = false;
      const c = counts[j];
      if (predicted && actual) c.tp++;
      else if (predicted) c.fp++;
      else if (actual) c.fn++;
    }
    if (rowRight) rightRows++;
  }
  const perLabel = counts.map(({ tp, fp, fn }) => {
    const precision = tp + fp ? tp / (tp + fp) : 0;
    const recall = tp + fn ? tp / (tp + fn) : 0;
    return { precision, recall, f1: precision + recall ? (2 * precision * recall) / (precision + recall) : 0, support: tp + fn };
  });
  return {
    task: 'multilabel',
    loss: loss / flags.length,
    subsetAccuracy: rightRows / count,
    labelAccuracy: right / flags.length,
    meanF1: perLabel.reduce((a, r) => a + r.f1, 0) / labels,
    perLabel,
  };
}

function crossEntropy(row: Float32Array, label: number): number {
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let z = 0;
  for (const v of row) z += Math.exp(v - max);
  return -(row[label] - max - Math.log(z));
}
