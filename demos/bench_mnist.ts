import type { ImageDataset, ImageSplits } from '../src/data/dataset.js';
import { loadIdxUrl } from '../src/data/idx_files.js';

/**
 * The benchmark page's MNIST: the IDX files the demo site serves under ./mnist/, read once per page.
 * The demo build resolves the bench workloads' bench/data/mnist.ts (which fetches through the bench
 * harness's own server) to this module, so the shared workloads train on the same images here.
 */
let splits: Promise<ImageSplits> | undefined;

export function mnistSplits(): Promise<ImageSplits> {
  splits ??= loadIdxUrl('./mnist/');
  return splits;
}

function firstOf(d: ImageDataset, count: number, split: string): ImageDataset {
  if (count > d.count) throw new Error(`MNIST: asked for ${count} ${split} images, the ${split} set has ${d.count}`);
  const pixels = d.height * d.width;
  return { ...d, images: d.images.subarray(0, count * pixels), labels: d.labels.subarray(0, count), count };
}

/** The first `count` MNIST training images (what bench/data/mnist.ts offers the workloads). */
export async function mnistTrainSubset(count: number): Promise<ImageDataset> {
  return firstOf((await mnistSplits()).train, count, 'training');
}

/** The first `count` MNIST test images. */
export async function mnistTestSubset(count: number): Promise<ImageDataset> {
  return firstOf((await mnistSplits()).test, count, 'test');
}
