import { DatasetError, type IdxArray } from './idx.js';

/**
 * An image-classification dataset held as bytes on the CPU: images [count, height, width] (one
 * channel) and labels [count]. The GPU copy is made once by the training code.
 */
export interface ImageDataset {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  height: number;
  width: number;
  /** 1 + the largest label. */
  classes: number;
}

export interface ImageSplits {
  train: ImageDataset;
  test: ImageDataset;
}

/** Pairs an image file with a label file, checking they agree. */
export function imageDataset(images: IdxArray, labels: IdxArray, name: string): ImageDataset {
  if (images.shape.length !== 3) {
    throw new DatasetError(`${name} images: shape [${images.shape.join(', ')}] must be [count, height, width]`);
  }
  if (labels.shape.length !== 1) throw new DatasetError(`${name} labels: shape [${labels.shape.join(', ')}] must be [count]`);
  const [count, height, width] = images.shape;
  if (labels.shape[0] !== count) {
    throw new DatasetError(`${name}: ${count} images but ${labels.shape[0]} labels; the files do not belong together`);
  }
  let classes = 0;
  for (const l of labels.data) classes = Math.max(classes, l + 1);
  return { images: images.data, labels: labels.data, count, height, width, classes };
}

/** Splits off the last `fraction` of a dataset (e.g. for validation), keeping the order. */
export function splitDataset(d: ImageDataset, fraction: number): [ImageDataset, ImageDataset] {
  if (!(fraction > 0 && fraction < 1)) throw new DatasetError(`validation fraction ${fraction} must be between 0 and 1`);
  const second = Math.max(1, Math.round(d.count * fraction));
  const first = d.count - second;
  if (first < 1) throw new DatasetError(`a ${fraction} split of ${d.count} samples leaves no training data`);
  const pixels = d.height * d.width;
  const part = (from: number, n: number): ImageDataset => ({
    ...d,
    images: d.images.subarray(from * pixels, (from + n) * pixels),
    labels: d.labels.subarray(from, from + n),
    count: n,
  });
  return [part(0, first), part(first, second)];
}
