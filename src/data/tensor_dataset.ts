import { DatasetError } from './idx.js';
import type { Normalisation } from './gpu_dataset.js';

/** What a dataset's targets are, and so the loss a `Trainer` minimises on it. */
export type Task = 'classification' | 'regression' | 'multilabel';

/** Features a tensor dataset takes: float values, bytes (normalised on the GPU) or integer ids. */
export type FeatureArray = Float32Array | Uint8Array | Uint32Array;

/** Targets by task: class indices, real values, or 0/1 flags per label. */
export interface TargetArrays {
  classification: Uint32Array | Uint8Array;
  regression: Float32Array;
  multilabel: Float32Array | Uint8Array;
}

/** Options of `tensorDataset`: the shape of one sample, the task, and how bytes and labels are read. */
export interface TensorDatasetOptions<T extends Task = Task> {
  /** Shape of one sample's features, e.g. [4] or [3, 32, 32]; the sample count is x.length / its product. */
  featureShape: readonly number[];
  /** Default 'classification'. */
  task?: T;
  /**
   * Uint8Array features only: bytes become (byte/255 − mean)/std on the GPU, as for image
   * datasets. Default `UNIT_RANGE` (byte/255, in [0, 1]).
   */
  normalisation?: Normalisation;
  /**
   * Classification only: how many classes the labels index; every label must be below it.
   * Default: one more than the largest label, refused when that label stands far apart from the
   * rest (255 among 0–9), as for image datasets.
   */
  classes?: number;
  /**
   * Classification only: a label value marking rows to leave out of the loss and the metrics
   * (PyTorch's ignore_index), allowed beside the classes; the Trainer must be given the same
   * `ignoreIndex`. Default: none.
   */
  ignoreIndex?: number;
}

/**
 * Features and targets held on the CPU, checked and in the layout the GPU gather reads; made by
 * `tensorDataset`. A `Trainer` uploads it once per fit or evaluation and gathers its batches on the
 * GPU. Targets are stored as 32-bit words: class indices as Uint32Array, everything else as
 * Float32Array [count, targetWidth].
 */
export interface TensorDataset<T extends Task = Task> {
  readonly kind: 'tensor';
  readonly task: T;
  readonly count: number;
  readonly featureShape: readonly number[];
  readonly features: FeatureArray;
  readonly targets: T extends 'classification' ? Uint32Array : Float32Array;
  /** Values per sample in `targets`: 1 for class indices, k for regression, C for multi-label. */
  readonly targetWidth: number;
  /** Classification: the class count. Multi-label: the label count. Regression: undefined. */
  readonly classes: number | undefined;
  /** Set for Uint8Array features. */
  readonly normalisation: Normalisation | undefined;
  /** Classification: the label of rows left out (see `TensorDatasetOptions.ignoreIndex`). */
  readonly ignoreIndex: number | undefined;
}

/** True for datasets made by `tensorDataset` (rather than IDX image datasets). */
export function isTensorDataset(d: object): d is TensorDataset {
  return (d as { kind?: unknown }).kind === 'tensor';
}

/**
 * A dataset from your own arrays, for `Trainer.fit`/`evaluate`. `x` holds `count` samples of
 * `featureShape` each, sample after sample (row-major); `y` depends on `options.task`:
 * - 'classification' (the default): class indices [count] (Uint32Array or Uint8Array), trained
 *   with softmax cross-entropy;
 * - 'regression': real targets [count] or [count, k] (Float32Array), trained with mean squared error;
 * - 'multilabel': 0/1 flags [count, C] (Float32Array or Uint8Array), trained with binary
 *   cross-entropy on logits.
 * Everything is checked here (lengths, shapes, labels, finite values) and a DatasetError names the
 * field, the values and the fix. The arrays are not copied when already in the stored layout (do
 * not change them while training); Uint8Array targets are widened to 32 bits.
 *
 * @example
 * const data = tensorDataset(new Float32Array([0, 1, 1, 0, 1, 1]), new Float32Array([1, 1, 2]), { featureShape: [2], task: 'regression' });
 * await trainer.fit(data, { epochs: 10 });
 */
export function tensorDataset(x: FeatureArray, y: TargetArrays['classification'], options: TensorDatasetOptions<'classification'>): TensorDataset<'classification'>;
export function tensorDataset(x: FeatureArray, y: TargetArrays['regression'], options: TensorDatasetOptions<'regression'> & { task: 'regression' }): TensorDataset<'regression'>;
export function tensorDataset(x: FeatureArray, y: TargetArrays['multilabel'], options: TensorDatasetOptions<'multilabel'> & { task: 'multilabel' }): TensorDataset<'multilabel'>;
export function tensorDataset<T extends Task>(x: FeatureArray, y: TargetArrays[T], options: TensorDatasetOptions<T>): TensorDataset<T>;
export function tensorDataset<T extends Task>(x: FeatureArray, y: TargetArrays[T], options: TensorDatasetOptions<T>): TensorDataset<T> {
  if (typeof options !== 'object' || options === null) {
    throw new DatasetError(`tensorDataset: options must be an object with at least featureShape, e.g. { featureShape: [4] }, got ${String(options)}`);
  }
  const task = (options.task ?? 'classification') as T;
  if (!['classification', 'regression', 'multilabel'].includes(task)) {
    throw new DatasetError(`tensorDataset: task '${String(task)}' must be 'classification', 'regression' or 'multilabel'`);
  }
  const featureShape = checkFeatureShape(options.featureShape);
  const count = sampleCount(x, featureShape);
  const normalisation = checkNormalisation(x, options.normalisation);
  if (x instanceof Float32Array) {
    const bad = firstNonFinite(x);
    if (bad >= 0) throw new DatasetError(`tensorDataset: x[${bad}] is ${x[bad]} (sample ${Math.floor(bad / (x.length / count))}); features must be finite: fix or drop that sample`);
  }
  for (const field of ['classes', 'ignoreIndex'] as const) {
    if (options[field] !== undefined && task !== 'classification') {
      throw new DatasetError(`tensorDataset: ${field} is for classification; a ${task} dataset takes its width from y ([count, k])`);
    }
  }
  const { ignoreIndex } = options;
  if (ignoreIndex !== undefined && !(Number.isInteger(ignoreIndex) && ignoreIndex >= 0 && ignoreIndex < 2 ** 32)) {
    throw new DatasetError(`tensorDataset: ignoreIndex ${ignoreIndex} must be an integer in [0, 2^32): a label value`);
  }
  const fields = { kind: 'tensor' as const, task, count, featureShape, features: x, normalisation, ignoreIndex };
  if (task === 'classification') {
    const labels = checkLabels(y, count, options.classes, ignoreIndex);
    return { ...fields, targets: labels.targets, targetWidth: 1, classes: labels.classes } as TensorDataset<T>;
  }
  const targets = checkTargets(task, y, count);
  return { ...fields, targets, targetWidth: targets.length / count, classes: task === 'multilabel' ? targets.length / count : undefined } as TensorDataset<T>;
}

function checkFeatureShape(shape: readonly number[] | undefined): readonly number[] {
  if (!Array.isArray(shape) || shape.length === 0 || !shape.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new DatasetError(`tensorDataset: featureShape ${JSON.stringify(shape)} must be a non-empty list of positive integers: the shape of one sample, e.g. [4] or [3, 32, 32]`);
  }
  return [...shape];
}

function sampleCount(x: FeatureArray, featureShape: readonly number[]): number {
  if (!(x instanceof Float32Array || x instanceof Uint8Array || x instanceof Uint32Array)) {
    throw new DatasetError(`tensorDataset: x must be a Float32Array, Uint8Array or Uint32Array, got ${describeArray(x)}`);
  }
  const perSample = featureShape.reduce((a, b) => a * b, 1);
  if (x.length === 0 || x.length % perSample !== 0) {
    throw new DatasetError(
      `tensorDataset: x has ${x.length} values, not a positive multiple of featureShape [${featureShape.join(', ')}] = ${perSample} values per sample; ` +
        'check featureShape, or that x holds whole samples',
    );
  }
  return x.length / perSample;
}

function checkNormalisation(x: FeatureArray, n: Normalisation | undefined): Normalisation | undefined {
  if (!(x instanceof Uint8Array)) {
    if (n) throw new DatasetError(`tensorDataset: normalisation applies to Uint8Array features only; x is a ${describeArray(x)}: normalise it yourself or pass bytes`);
    return undefined;
  }
  const chosen = n ?? { mean: 0, std: 1 };
  if (!Number.isFinite(chosen.mean) || !Number.isFinite(chosen.std) || chosen.std <= 0) {
    throw new DatasetError(`tensorDataset: normalisation { mean: ${chosen.mean}, std: ${chosen.std} } needs a finite mean and a positive, finite std`);
  }
  return { mean: chosen.mean, std: chosen.std };
}

function checkLabels(y: unknown, count: number, given: number | undefined, ignoreIndex: number | undefined): { targets: Uint32Array; classes: number } {
  if (!(y instanceof Uint32Array || y instanceof Uint8Array)) {
    throw new DatasetError(`tensorDataset: classification labels y must be a Uint32Array or Uint8Array of class indices, got ${describeArray(y)}; for real-valued targets pass task: 'regression'`);
  }
  if (y.length !== count) throw new DatasetError(`tensorDataset: y has ${y.length} labels for the ${count} samples of x; give one class index per sample`);
  const targets = y instanceof Uint32Array ? y : Uint32Array.from(y);
  if (given === undefined) return { targets, classes: inferClassCount(y, ignoreIndex) };
  if (!Number.isInteger(given) || given < 1) throw new DatasetError(`tensorDataset: classes ${given} must be a positive integer`);
  const at = y.findIndex((l) => l >= given && l !== ignoreIndex);
  if (at >= 0) throw new DatasetError(`tensorDataset: y[${at}] is ${y[at]}, not below the ${given} classes given; fix the label or give the real number of classes`);
  return { targets, classes: given };
}

/**
 * One more than the largest label, unless that label stands far apart from the rest: when more
 * than half of the classes below it have no sample, it is far likelier a sentinel or corrupt label
 * than a class (the rule `classCount` applies to IDX labels).
 */
function inferClassCount(y: Uint32Array | Uint8Array, ignoreIndex: number | undefined): number {
  const seen = new Set<number>(y);
  if (ignoreIndex !== undefined) seen.delete(ignoreIndex);
  if (seen.size === 0) throw new DatasetError(`tensorDataset: every label is the ignoreIndex ${ignoreIndex}; there is nothing to learn from`);
  let largest = 0;
  for (const l of seen) largest = Math.max(largest, l);
  const empty = largest - (seen.size - 1);
  if (largest > 0 && empty > largest / 2) {
    throw new DatasetError(
      `tensorDataset: label ${largest} at y[${y.indexOf(largest)}] would make a ${largest + 1}-class model, but ${empty} of the ${largest} classes below it have no sample; ` +
        `if the data really has ${largest + 1} classes, say so with the classes option; if it marks rows to leave out, pass ignoreIndex: ${largest}; else fix or drop that label`,
    );
  }
  return largest + 1;
}

function checkTargets(task: 'regression' | 'multilabel', y: unknown, count: number): Float32Array {
  const allowed = task === 'regression' ? y instanceof Float32Array : y instanceof Float32Array || y instanceof Uint8Array;
  if (!allowed) {
    const want = task === 'regression' ? 'a Float32Array of targets [count] or [count, k]' : 'a Float32Array or Uint8Array of 0/1 flags [count, labels]';
    throw new DatasetError(`tensorDataset: ${task} targets y must be ${want}, got ${describeArray(y)}`);
  }
  const values = y as Float32Array | Uint8Array;
  if (values.length === 0 || values.length % count !== 0) {
    throw new DatasetError(`tensorDataset: y has ${values.length} values for the ${count} samples of x; ${task === 'regression' ? 'regression targets are [count] or [count, k]' : 'multi-label flags are [count, labels]'}: a positive multiple of ${count} values`);
  }
  const width = values.length / count;
  if (task === 'regression') {
    const bad = firstNonFinite(values as Float32Array);
    if (bad >= 0) throw new DatasetError(`tensorDataset: y[${bad}] is ${values[bad]} (sample ${Math.floor(bad / width)}); regression targets must be finite`);
    return values as Float32Array;
  }
  const bad = values.findIndex((v) => v !== 0 && v !== 1);
  if (bad >= 0) {
    throw new DatasetError(`tensorDataset: y[${bad}] is ${values[bad]} (sample ${Math.floor(bad / width)}, label ${bad % width}); multi-label targets must be 0 or 1`);
  }
  return values instanceof Float32Array ? values : Float32Array.from(values);
}

function firstNonFinite(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return i;
  return -1;
}

function describeArray(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (ArrayBuffer.isView(v) || Array.isArray(v)) return `${(v as object).constructor.name} of ${(v as ArrayLike<unknown>).length}`;
  return typeof v;
}
