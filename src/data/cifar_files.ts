import { MAX_DATASET_FILE_BYTES } from '../io/limits.js';
import { readFileWithin } from '../io/read_bounded.js';
import { CIFAR_META_FILE, CIFAR_TEST_FILE, CIFAR_TRAIN_FILES, cifarSplits, encodeCifarBatch } from './cifar.js';
import { cifarFromTarGz } from './cifar_archive.js';
import { imageBytes, type ImageSplits } from './dataset.js';
import { DatasetError, isGzip } from './idx.js';

const LIMITS = { limit: MAX_DATASET_FILE_BYTES, limitName: 'MAX_DATASET_FILE_BYTES', error: DatasetError } as const;

/** True when `dir` holds CIFAR-10 binary batches (test_batch.bin or data_batch_1.bin). */
export async function isCifarFolder(dir: string): Promise<boolean> {
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  const has = (name: string) => fs.stat(path.join(dir, name)).then((s) => s.isFile(), () => false);
  return (await has(CIFAR_TEST_FILE)) || (await has(CIFAR_TRAIN_FILES[0]));
}

/**
 * Node: CIFAR-10 from a folder of its binary batches (data_batch_1.bin … data_batch_5.bin, any
 * present; test_batch.bin; batches.meta.txt for the class names) or from cifar-10-binary.tar.gz
 * itself, read within MAX_DATASET_FILE_BYTES and inflated within MAX_INFLATED_BYTES.
 */
export async function loadCifar(source: string, options: { classes?: number } = {}): Promise<ImageSplits> {
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  const stat = await fs.stat(source).catch(() => undefined);
  if (!stat) throw new DatasetError(`${source}: no such file or folder; give a folder of CIFAR-10 binary batches or cifar-10-binary.tar.gz`);
  if (stat.isFile()) {
    const bytes = await readFileWithin(source, LIMITS);
    if (!isGzip(bytes)) throw new DatasetError(`${source}: not a gzip file; give cifar-10-binary.tar.gz as downloaded, or the folder it unpacks to`);
    return cifarFromTarGz(bytes, source, options);
  }
  const files = new Map<string, Uint8Array>();
  for (const name of [...CIFAR_TRAIN_FILES, CIFAR_TEST_FILE, CIFAR_META_FILE]) {
    const bytes = await readFileWithin(path.join(source, name), { ...LIMITS, missingOk: true });
    if (bytes) files.set(name, bytes);
  }
  return cifarSplits((name) => files.get(name), source, options);
}

/**
 * Node: writes `splits` (3×32×32 images) as CIFAR-10's binary version in `dir`: the training set
 * as data_batch_1.bin … data_batch_5.bin (five equal parts, the last taking any remainder),
 * test_batch.bin, and batches.meta.txt with the class names (or the label numbers). Returns the
 * paths written. Each file is written whole or not at all.
 */
export async function writeCifarFolder(dir: string, splits: ImageSplits): Promise<string[]> {
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  const { writeFileAtomically } = await import('../io/atomic_write.js');
  await fs.mkdir(dir, { recursive: true });
  const { train, test } = splits;
  const per = Math.ceil(train.count / CIFAR_TRAIN_FILES.length);
  const written: string[] = [];
  const write = async (name: string, bytes: Uint8Array) => {
    const file = path.join(dir, name);
    await writeFileAtomically(file, bytes);
    written.push(file);
  };
  for (let b = 0; b < CIFAR_TRAIN_FILES.length && b * per < train.count; b++) {
    const n = Math.min(per, train.count - b * per);
    const bytesPer = imageBytes(train);
    await write(CIFAR_TRAIN_FILES[b], encodeCifarBatch({ ...train, count: n, images: train.images.subarray(b * per * bytesPer, (b * per + n) * bytesPer), labels: train.labels.subarray(b * per, b * per + n) }));
  }
  await write(CIFAR_TEST_FILE, encodeCifarBatch(test));
  const names = train.classNames ?? Array.from({ length: train.classes }, (_, k) => String(k));
  await write(CIFAR_META_FILE, new TextEncoder().encode(`${names.join('\n')}\n`));
  return written;
}
