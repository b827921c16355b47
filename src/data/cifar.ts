import { classCount, type ImageDataset, type ImageSplits } from './dataset.js';
import { DatasetError } from './idx.js';

/** CIFAR-10's image side, channels, and record size: one label byte, then the R, G and B planes. */
export const CIFAR_SIZE = 32;
export const CIFAR_RECORD_BYTES = 1 + 3 * CIFAR_SIZE * CIFAR_SIZE;
/** The training batches CIFAR-10's binary version has (a dataset may have fewer), and its test batch. */
export const CIFAR_TRAIN_FILES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
export const CIFAR_TEST_FILE = 'test_batch.bin';
export const CIFAR_META_FILE = 'batches.meta.txt';

/** A named file's bytes, as read from a folder, an archive or a drop. */
export interface NamedBytes {
  name: string;
  bytes: Uint8Array;
}

const FIX = "the file is truncated or is not CIFAR-10's binary version: use cifar-10-binary.tar.gz (not the Python or MATLAB one)";

/**
 * Images [n, 3, 32, 32] and labels of CIFAR-10 binary batch files, in order. A file whose size is
 * not a whole number of 3073-byte records is a DatasetError naming it and the fix.
 */
export function parseCifarBatches(files: readonly NamedBytes[]): { images: Uint8Array; labels: Uint8Array; count: number } {
  const pixels = CIFAR_RECORD_BYTES - 1;
  for (const { name, bytes } of files) {
    if (bytes.length === 0 || bytes.length % CIFAR_RECORD_BYTES !== 0) {
      throw new DatasetError(`${name}: ${bytes.length} bytes is not a whole number of ${CIFAR_RECORD_BYTES}-byte CIFAR-10 records (1 label byte + 3×32×32 pixels); ${FIX}`);
    }
  }
  const count = files.reduce((a, f) => a + f.bytes.length / CIFAR_RECORD_BYTES, 0);
  const images = new Uint8Array(count * pixels);
  const labels = new Uint8Array(count);
  let n = 0;
  for (const { bytes } of files) {
    for (let at = 0; at < bytes.length; at += CIFAR_RECORD_BYTES, n++) {
      labels[n] = bytes[at];
      images.set(bytes.subarray(at + 1, at + CIFAR_RECORD_BYTES), n * pixels);
    }
  }
  return { images, labels, count };
}

/** Class names of batches.meta.txt: one per line, blank lines dropped. */
export function parseCifarMeta(text: string): string[] {
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
}

/**
 * Training and test sets from CIFAR-10 binary files found by `find` (file name → bytes, or
 * undefined when absent): every data_batch_N.bin present (at least one) and test_batch.bin, with
 * class names from batches.meta.txt when present. `where` names the source in messages.
 */
export function cifarSplits(find: (name: string) => Uint8Array | undefined, where: string, options: { classes?: number } = {}): ImageSplits {
  const train = CIFAR_TRAIN_FILES.flatMap((name) => {
    const bytes = find(name);
    return bytes ? [{ name: `${where}/${name}`, bytes }] : [];
  });
  const testBytes = find(CIFAR_TEST_FILE);
  if (!train.length || !testBytes) {
    const missing = [...(train.length ? [] : ['data_batch_1.bin … data_batch_5.bin']), ...(testBytes ? [] : [CIFAR_TEST_FILE])];
    throw new DatasetError(`${where}: no ${missing.join(' and no ')}; give a folder (or cifar-10-binary.tar.gz) holding CIFAR-10's binary batches`);
  }
  const test = [{ name: `${where}/${CIFAR_TEST_FILE}`, bytes: testBytes }];
  const [a, b] = [parseCifarBatches(train), parseCifarBatches(test)];
  const meta = find(CIFAR_META_FILE);
  const names = meta ? parseCifarMeta(new TextDecoder().decode(meta)) : undefined;
  // The names, when present, say how many classes there are (a subset may lack the last ones).
  const classes = classCount(
    [
      { file: train.map((f) => f.name).join(', '), labels: a.labels },
      { file: test[0].name, labels: b.labels },
    ],
    options.classes ?? (names?.length || undefined),
  );
  if (names && names.length < classes) {
    throw new DatasetError(`${where}/${CIFAR_META_FILE}: names ${names.length} classes but the labels reach ${classes - 1}; give a name per line for every class`);
  }
  const set = (d: typeof a): ImageDataset => ({
    ...d,
    height: CIFAR_SIZE,
    width: CIFAR_SIZE,
    channels: 3,
    classes,
    ...(names ? { classNames: names.slice(0, classes) } : {}),
  });
  return { train: set(a), test: set(b) };
}

/**
 * A dataset of 32×32 RGB images in CIFAR-10's binary layout: per image its label byte, then the R,
 * G and B planes. The inverse of `parseCifarBatches`.
 */
export function encodeCifarBatch(d: ImageDataset): Uint8Array {
  if (d.height !== CIFAR_SIZE || d.width !== CIFAR_SIZE || (d.channels ?? 1) !== 3) {
    throw new DatasetError(`CIFAR-10 batches hold 3×32×32 images; this dataset has ${d.channels ?? 1}×${d.height}×${d.width}`);
  }
  if (d.classes > 256) throw new DatasetError(`CIFAR-10 batches hold byte labels; this dataset has ${d.classes} classes`);
  const pixels = CIFAR_RECORD_BYTES - 1;
  const out = new Uint8Array(d.count * CIFAR_RECORD_BYTES);
  for (let i = 0; i < d.count; i++) {
    out[i * CIFAR_RECORD_BYTES] = d.labels[i];
    out.set(d.images.subarray(i * pixels, (i + 1) * pixels), i * CIFAR_RECORD_BYTES + 1);
  }
  return out;
}

/**
 * The mean and standard deviation of each channel over every pixel of `d` (as fractions of 255):
 * the `channelNormalisation` that makes a colour dataset's inputs zero-mean, unit-variance per
 * channel, as torchvision's Normalize with the dataset's own statistics does.
 */
export function channelStatistics(d: ImageDataset): { mean: number[]; std: number[] } {
  const channels = d.channels ?? 1;
  const plane = d.height * d.width;
  const sums = new Float64Array(channels);
  const squares = new Float64Array(channels);
  for (let i = 0; i < d.count; i++) {
    for (let c = 0; c < channels; c++) {
      const from = (i * channels + c) * plane;
      let s = 0;
      let q = 0;
      for (let k = from; k < from + plane; k++) {
        const v = d.images[k];
        s += v;
        q += v * v;
      }
      sums[c] += s;
      squares[c] += q;
    }
  }
  const n = d.count * plane * 255;
  const mean = Array.from(sums, (s) => s / n);
  // A constant channel has std 0; 1/255 keeps the normalisation finite (it only centres that channel).
  const std = Array.from(squares, (q, c) => Math.max(Math.sqrt(Math.max(0, q / (n * 255) - mean[c] ** 2)), 1 / 255));
  return { mean, std };
}
