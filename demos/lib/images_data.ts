import { loadIdxUrl, type ImageDataset, type ImageSplits } from '../../src/index.js';
import { cifarFromTarGz } from '../../src/data/cifar_archive.js';
import { channelStatistics } from '../../src/data/cifar.js';
import { colorMnist } from '../../src/data/color_mnist.js';
import { DatasetError } from '../../src/data/idx.js';

/*
 * The Images page's datasets, made on the page (CPU only): the built-in colour-MNIST set, CIFAR-10's
 * binary tar.gz, or a folder of class folders decoded by the browser (createImageBitmap).
 */

const SIDE = 32;
const IMAGE_FILE = /\.(png|jpe?g|gif|webp|bmp)$/i;
const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

/** A dropped or chosen file with its path inside what was given (e.g. "train/cat/0001.png"). */
export interface PathedFile {
  path: string;
  file: File;
}

/** The data a page trains on, and what to call it. */
export interface LoadedImages extends ImageSplits {
  description: string;
}

/** Digits tinted and placed on coloured 32×32 backgrounds (src/data/color_mnist.ts), from the MNIST files the demos serve. */
export async function builtinColorMnist(train: number, test: number): Promise<LoadedImages> {
  const mnist = await loadIdxUrl(new URL('./mnist/', location.href).href);
  const splits = colorMnist(mnist, { train: Math.min(train, mnist.train.count), test: Math.min(test, mnist.test.count), seed: 0 });
  const named = (d: ImageDataset) => ({ ...d, classNames: DIGITS });
  return { train: named(splits.train), test: named(splits.test), description: `built-in colour MNIST: ${splits.train.count} training and ${splits.test.count} test images (MNIST digits tinted on random 32×32 backgrounds)` };
}

/** CIFAR-10's distributed binary archive (cifar-10-binary.tar.gz), read in the page. */
export async function cifarArchive(file: File): Promise<LoadedImages> {
  const splits = await cifarFromTarGz(new Uint8Array(await file.arrayBuffer()), file.name);
  return { ...splits, description: `${file.name}: ${splits.train.count} training and ${splits.test.count} test images` };
}

/**
 * Image folders: `train/<class>/*` and `test/<class>/*`, or only `<class>/*` (every tenth image of
 * each class then tests). Images are decoded by the browser and scaled to 32×32 (the page says so).
 */
export async function imageFolders(files: readonly PathedFile[]): Promise<LoadedImages> {
  const images = files.filter((f) => IMAGE_FILE.test(f.path)).map((f) => ({ ...f, parts: f.path.split('/').filter(Boolean) }));
  if (images.length === 0) throw new DatasetError('the dropped folder holds no images (.png, .jpg, .gif, .webp, .bmp); drop a folder of class folders, or CIFAR-10’s tar.gz');
  // Drop the common leading folders, so "mydata/train/cat/x.png" and "train/cat/x.png" read alike.
  while (images.every((f) => f.parts.length > 2 && f.parts[0] === images[0].parts[0])) for (const f of images) f.parts.shift();
  const split = images.every((f) => f.parts.length >= 3 && (f.parts[0] === 'train' || f.parts[0] === 'test'));
  const classOf = (parts: string[]) => (split ? parts[1] : parts.length >= 2 ? parts[0] : undefined);
  const classNames = [...new Set(images.map((f) => classOf(f.parts)).filter((c): c is string => c !== undefined))].sort();
  if (classNames.length < 2) throw new DatasetError(`found ${classNames.length} class folder${classNames.length === 1 ? '' : 's'}; give a folder with one folder per class (at least two), e.g. cats/ and dogs/`);
  const train: { file: File; label: number }[] = [];
  const test: { file: File; label: number }[] = [];
  const seen = new Map<string, number>();
  for (const f of images.sort((a, b) => a.path.localeCompare(b.path))) {
    const name = classOf(f.parts);
    if (name === undefined) continue;
    const label = classNames.indexOf(name);
    const n = seen.get(name) ?? 0;
    seen.set(name, n + 1);
    (split ? (f.parts[0] === 'test' ? test : train) : n % 10 === 9 ? test : train).push({ file: f.file, label });
  }
  if (train.length === 0 || test.length === 0) throw new DatasetError(`the folder gives ${train.length} training and ${test.length} test images; each split needs at least one`);
  const decode = async (list: { file: File; label: number }[]): Promise<ImageDataset> => {
    const canvas = new OffscreenCanvas(SIDE, SIDE);
    const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
    const bytes = new Uint8Array(list.length * 3 * SIDE * SIDE);
    for (let i = 0; i < list.length; i++) {
      let bitmap: ImageBitmap;
      try {
        bitmap = await createImageBitmap(list[i].file);
      } catch {
        throw new DatasetError(`${list[i].file.name}: the browser cannot decode this image`);
      }
      ctx.clearRect(0, 0, SIDE, SIDE);
      ctx.drawImage(bitmap, 0, 0, SIDE, SIDE);
      bitmap.close();
      const rgba = ctx.getImageData(0, 0, SIDE, SIDE).data;
      for (let p = 0; p < SIDE * SIDE; p++) for (let c = 0; c < 3; c++) bytes[i * 3 * SIDE * SIDE + c * SIDE * SIDE + p] = rgba[p * 4 + c];
    }
    return { images: bytes, labels: Uint8Array.from(list, (x) => x.label), count: list.length, height: SIDE, width: SIDE, channels: 3, classes: classNames.length, classNames };
  };
  return { train: await decode(train), test: await decode(test), description: `${classNames.length} classes (${classNames.join(', ')}): ${train.length} training and ${test.length} test images, scaled to 32×32` };
}

/** Every file under the dropped items, with its path (folders are walked through their directory entries). */
export async function droppedFiles(items: DataTransferItemList): Promise<PathedFile[]> {
  const out: PathedFile[] = [];
  const walk = async (entry: FileSystemEntry, path: string): Promise<void> => {
    if (entry.isFile) {
      out.push({ path, file: await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject)) });
      return;
    }
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    for (;;) {
      const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
      if (batch.length === 0) break;
      for (const child of batch) await walk(child, `${path}/${child.name}`);
    }
  };
  const entries = Array.from(items, (i) => i.webkitGetAsEntry()).filter((e): e is FileSystemEntry => e !== null);
  for (const e of entries) await walk(e, e.name);
  return out;
}

/** The first `n` images of a set (copied, so only they are sent to the worker). */
export function firstImages(d: ImageDataset, n: number): ImageDataset {
  const count = Math.min(n, d.count);
  const bytes = (d.channels ?? 1) * d.height * d.width;
  return { ...d, images: d.images.slice(0, count * bytes), labels: d.labels.slice(0, count), count };
}

/** Both sets normalised by the training images' per-channel statistics, as the CLI's ResNet recipe does. */
export function withStatistics(splits: ImageSplits): ImageSplits {
  const stats = channelStatistics(splits.train);
  return { train: { ...splits.train, channelNormalisation: stats }, test: { ...splits.test, channelNormalisation: stats } };
}
