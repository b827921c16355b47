import type { ImageDataset, ImageSplits } from './dataset.js';
import { DatasetError } from './idx.js';

/** One decoded image: RGBA bytes, row by row (what canvas getImageData, pngjs and jpeg-js give). */
export interface DecodedImage {
  /** Where it came from, for messages: e.g. 'train/cat/001.png'. */
  name: string;
  width: number;
  height: number;
  rgba: Uint8Array | Uint8ClampedArray;
}

/** An image of a split and a class, as found in an image folder (train/<class>/… or test/<class>/…). */
export interface LabelledImage {
  split: 'train' | 'test';
  className: string;
  image: DecodedImage;
}

/**
 * An image folder's training and test sets from its decoded images: classes are the training
 * split's class folder names in sorted order (as torchvision's ImageFolder numbers them), images
 * become 3×H×W RGB planes (alpha dropped). Browser and Node alike: the browser decodes with
 * createImageBitmap, Node with pngjs and jpeg-js (see loadImageFolder). `where` names the folder.
 * No training class, a test class the training split lacks, a split without images, or images of
 * different sizes are DatasetErrors naming the folder or file and the fix.
 */
export function imageFolderSplits(images: readonly LabelledImage[], where: string): ImageSplits {
  const classNames = [...new Set(images.filter((i) => i.split === 'train').map((i) => i.className))].sort();
  if (!classNames.length) {
    throw new DatasetError(`${where}: no images in train/<class>/ folders; lay the images out as train/<class>/*.png|jpg and test/<class>/*.png|jpg`);
  }
  const first = images[0].image;
  for (const { image } of images) {
    if (image.width !== first.width || image.height !== first.height) {
      throw new DatasetError(`${where}/${image.name}: ${image.width}×${image.height}, but ${first.name} is ${first.width}×${first.height}; resize every image to one size (e.g. ${first.width}×${first.height})`);
    }
    if (image.rgba.length !== image.width * image.height * 4) {
      throw new DatasetError(`${where}/${image.name}: ${image.rgba.length} RGBA bytes for ${image.width}×${image.height}; expected ${image.width * image.height * 4}`);
    }
  }
  const split = (which: 'train' | 'test'): ImageDataset => {
    const chosen = images.filter((i) => i.split === which);
    if (!chosen.length) throw new DatasetError(`${where}/${which}: no images; put them in ${which}/<class>/*.png|jpg`);
    const plane = first.width * first.height;
    const pixels = new Uint8Array(chosen.length * 3 * plane);
    const labels = new Uint8Array(chosen.length);
    chosen.forEach(({ className, image }, n) => {
      const label = classNames.indexOf(className);
      if (label < 0) throw new DatasetError(`${where}/${image.name}: class '${className}' has no training images; add train/${className}/ or remove test/${className}/`);
      labels[n] = label;
      rgbaToPlanes(image.rgba, plane, pixels.subarray(n * 3 * plane, (n + 1) * 3 * plane));
    });
    return { images: pixels, labels, count: chosen.length, height: first.height, width: first.width, channels: 3, classes: classNames.length, classNames };
  };
  if (classNames.length > 256) throw new DatasetError(`${where}: ${classNames.length} classes; byte labels allow at most 256`);
  return { train: split('train'), test: split('test') };
}

/** Interleaved RGBA pixels → R, G and B planes one after another (alpha dropped), into `out` [3 × plane]. */
export function rgbaToPlanes(rgba: ArrayLike<number>, plane: number, out: Uint8Array = new Uint8Array(3 * plane)): Uint8Array {
  for (let k = 0; k < plane; k++) {
    out[k] = rgba[4 * k];
    out[plane + k] = rgba[4 * k + 1];
    out[2 * plane + k] = rgba[4 * k + 2];
  }
  return out;
}
