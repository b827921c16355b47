import { DatasetError, type IdxArray } from './idx.js';

/**
 * An image-classification dataset held as bytes on the CPU: images [count, channels, height, width]
 * (channel planes one after another, as CIFAR-10 stores them and PyTorch takes them) and labels
 * [count]. The GPU copy is made once by the training code.
 */
export interface ImageDataset {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  height: number;
  width: number;
  /** Colour channels per image: 1 (grey, the default when absent) or 3 (RGB). */
  channels?: number;
  /**
   * Per-channel pixel statistics the GPU gather normalises with, (byte/255 − mean[c])/std[c]: one
   * value per channel (a colour dataset's RGB means and deviations, see `channelStatistics`).
   * Absent: the trainer's scalar normalisation applies. `Trainer.predictor()` after a fit on this
   * dataset normalises byte inputs the same way; elsewhere give the statistics to the Predictor
   * (`normalisation`), or record them for `loadModel` in the checkpoint's `config` metadata (JSON
   * with `normalisation`, as the CLI's ResNet files do).
   */
  channelNormalisation?: { mean: readonly number[]; std: readonly number[] };
  /** Names of the classes by label, when the data has them (CIFAR-10's batches.meta.txt, image-folder names). */
  classNames?: readonly string[];
  /** 1 + the largest label. */
  classes: number;
}

/** A dataset's training and test sets. */
export interface ImageSplits {
  train: ImageDataset;
  test: ImageDataset;
}

/** How the class count of a dataset is set. */
export interface ClassOptions {
  /**
   * How many classes the labels index; every label must be below it. Absent: one more than the
   * largest label, refused when that label stands far apart from the rest (see `classCount`).
   */
  classes?: number;
}

/** Labels as read from one file (or URL), named for messages. */
export interface LabelFile {
  file: string;
  labels: Uint8Array;
}

/** Pairs an image file with a label file, checking they agree and that the labels fit the class count. */
export function imageDataset(images: IdxArray, labels: IdxArray, name: string, options: ClassOptions = {}): ImageDataset {
  if (images.shape.length !== 3) {
    throw new DatasetError(`${name} images: shape [${images.shape.join(', ')}] must be [count, height, width]`);
  }
  if (labels.shape.length !== 1) throw new DatasetError(`${name} labels: shape [${labels.shape.join(', ')}] must be [count]`);
  const [count, height, width] = images.shape;
  if (labels.shape[0] !== count) {
    throw new DatasetError(`${name}: ${count} images but ${labels.shape[0]} labels; the files do not belong together`);
  }
  const classes = classCount([{ file: `${name} labels`, labels: labels.data }], options.classes);
  return { images: images.data, labels: labels.data, count, height, width, classes };
}

/**
 * The class count of labels read from one or more files (a dataset's train and test labels are
 * judged together). With `classes` given, every label must be below it. Without, the count is one
 * more than the largest label, unless that label stands far apart from the rest: when more than
 * half of the classes below it have no sample (255 among 0–9 leaves 245 of 255 empty), it is far
 * likelier a corrupt or sentinel label than a class, and a model sized for it would quietly waste
 * its outputs, so it is a DatasetError naming the file, the label and its first index.
 */
export function classCount(files: readonly LabelFile[], classes?: number): number {
  if (classes !== undefined) {
    if (!Number.isInteger(classes) || classes < 1) throw new DatasetError(`classes ${classes} must be a positive integer`);
    for (const { file, labels } of files) {
      const at = labels.findIndex((l) => l >= classes);
      if (at >= 0) {
        throw new DatasetError(`${file}: label ${labels[at]} at index ${at} is not below the ${classes} classes given (--classes / the classes option); fix the label, or give the real number of classes`);
      }
    }
    return classes;
  }
  const seen = new Uint8Array(256);
  for (const { labels } of files) for (const l of labels) seen[l] = 1;
  let largest = -1;
  for (let l = 0; l < 256; l++) if (seen[l]) largest = l;
  const below = seen.subarray(0, Math.max(largest, 0)).reduce((a, b) => a + b, 0);
  const empty = largest - below;
  if (largest > 0 && empty > largest / 2) {
    const { file, at } = firstOf(files, largest);
    throw new DatasetError(
      `${file}: label ${largest} at index ${at} would make a ${largest + 1}-class model, but ${empty} of the ${largest} classes below it have no sample ` +
        `(the other labels: ${describeLabels(seen, largest)}); if the data really has ${largest + 1} classes, say so with --classes ${largest + 1} ` +
        '(the classes option), else fix or drop that label',
    );
  }
  return largest + 1;
}

function firstOf(files: readonly LabelFile[], label: number): { file: string; at: number } {
  for (const { file, labels } of files) {
    const at = labels.indexOf(label);
    if (at >= 0) return { file, at };
  }
  throw new Error(`label ${label} was counted but not found`);
}

/** The labels seen below `largest`, as ranges: "0–9", "1, 3–5". */
function describeLabels(seen: Uint8Array, largest: number): string {
  const parts: string[] = [];
  for (let l = 0; l < largest; l++) {
    if (!seen[l]) continue;
    let end = l;
    while (end + 1 < largest && seen[end + 1]) end++;
    parts.push(end === l ? `${l}` : `${l}–${end}`);
    l = end;
  }
  return parts.length ? parts.join(', ') : 'none';
}

/** Bytes per image: height × width × channels. */
export function imageBytes(d: Pick<ImageDataset, 'height' | 'width' | 'channels'>): number {
  return d.height * d.width * (d.channels ?? 1);
}

/** Splits off the last `fraction` of a dataset (e.g. for validation), keeping the order. */
export function splitDataset(d: ImageDataset, fraction: number): [ImageDataset, ImageDataset] {
  if (!(fraction > 0 && fraction < 1)) throw new DatasetError(`validation fraction ${fraction} must be between 0 and 1`);
  const second = Math.max(1, Math.round(d.count * fraction));
  const first = d.count - second;
  if (first < 1) throw new DatasetError(`a ${fraction} split of ${d.count} samples leaves no training data`);
  const pixels = imageBytes(d);
  const part = (from: number, n: number): ImageDataset => ({
    ...d,
    images: d.images.subarray(from * pixels, (from + n) * pixels),
    labels: d.labels.subarray(from, from + n),
    count: n,
  });
  return [part(0, first), part(first, second)];
}
