import { ShapeError } from '../gpu/errors.js';

/**
 * Random affine augmentation of training images, drawn afresh for every sample of every step and
 * applied inside the batch-gather kernel (no extra dispatch, no upload). Each output pixel is read
 * from the source image by inverse mapping with bilinear interpolation; what falls outside the
 * image reads as byte 0 (background). Absent or zero fields leave that part of the transform out.
 */
export interface Augmentation {
  /**
   * Largest translation in pixels along each axis: drawn uniformly in [−shift, shift] and rounded
   * to whole pixels (as torchvision's RandomAffine does), so a pure shift moves pixels exactly.
   */
  shift?: number;
  /** Largest rotation in degrees about the image centre, drawn uniformly in [−rotate, rotate]; at most 180. */
  rotate?: number;
  /** Zoom range as a fraction: the scale factor is drawn uniformly in [1 − scale, 1 + scale]; below 1. */
  scale?: number;
  /**
   * Random crop after zero-padding every side by `crop` pixels (torchvision's RandomCrop(size,
   * padding=crop)): a translation by a whole number of pixels drawn uniformly from −crop … crop on
   * each axis. An integer; instead of `shift`, not with it.
   */
  crop?: number;
  /** Mirror left–right with probability ½ (torchvision's RandomHorizontalFlip), after the rest. */
  flip?: boolean;
}

const FIELDS = ['shift', 'rotate', 'scale', 'crop'] as const;
const ALL_FIELDS = [...FIELDS, 'flip'] as const;

/**
 * Throws a `ShapeError` naming `augment`, the bad value and the fix unless every field is a finite
 * number ≥ 0 with rotate ≤ 180 and scale < 1, and (when the image size is given) shift is below
 * both sides of the image. Runs before any GPU work.
 */
export function checkAugmentation(a: Augmentation, image?: { height: number; width: number }): void {
  for (const key of Object.keys(a)) {
    if (!(ALL_FIELDS as readonly string[]).includes(key)) {
      throw new ShapeError(`augment: unknown option '${key}'; the options are shift (pixels), rotate (degrees), scale (fraction), crop (pixels of padding) and flip (true/false)`);
    }
  }
  if (a.flip !== undefined && typeof a.flip !== 'boolean') throw new ShapeError(`augment: flip ${String(a.flip)} must be true or false`);
  for (const key of FIELDS) {
    const v = a[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || Number.isNaN(v) || v < 0) {
      throw new ShapeError(`augment: ${key} ${v} must be a number ≥ 0 (the largest change either way); e.g. ${key}: ${EXAMPLES[key]}`);
    }
  }
  const { shift = 0, rotate = 0, scale = 0, crop = 0 } = a;
  if (!Number.isInteger(crop)) throw new ShapeError(`augment: crop ${crop} must be a whole number of pixels of padding, e.g. crop: 4`);
  if (crop > 0 && shift > 0) throw new ShapeError(`augment: crop ${crop} and shift ${shift} both translate the image; give one of them`);
  if (image && crop >= Math.min(image.height, image.width)) {
    throw new ShapeError(`augment: crop ${crop} reaches the image size ${image.height}×${image.width}; pad by fewer than ${Math.min(image.height, image.width)} pixels`);
  }
  if (rotate > 180) throw new ShapeError(`augment: rotate ${rotate} exceeds 180 degrees; give the largest rotation either way, at most 180`);
  if (scale >= 1) throw new ShapeError(`augment: scale ${scale} must be below 1, since the zoom factor is drawn from [1 − scale, 1 + scale]; e.g. scale: 0.1`);
  if (!Number.isFinite(shift)) throw new ShapeError(`augment: shift ${shift} must be finite; give the largest translation in pixels, e.g. shift: 2`);
  if (image && shift >= Math.min(image.height, image.width)) {
    throw new ShapeError(
      `augment: shift ${shift} reaches the image size ${image.height}×${image.width}; use a shift below ${Math.min(image.height, image.width)} pixels`,
    );
  }
}

const EXAMPLES = { shift: 2, rotate: 10, scale: 0.1, crop: 4 } as const;

/** True when the augmentation changes nothing (absent, or every field absent or 0): the plain gather is used. */
export function isIdentityAugmentation(a: Augmentation | undefined): boolean {
  return !a || ALL_FIELDS.every((key) => !a[key]);
}

/**
 * Reads `shift=2,rotate=10,scale=0.1` or `crop=4,flip=1` (any subset, any order; flip is 0 or 1;
 * the form the CLI's --augment and the demos' augmentation field take) as an Augmentation, checked
 * as `checkAugmentation` does without an image size. Throws a `ShapeError` beginning `augment TEXT:`
 * that says what is wrong.
 */
export function parseAugmentation(text: string): Augmentation {
  function fail(why: string): never {
    throw new ShapeError(`augment ${text}: ${why}`);
  }
  const a: Record<string, number | boolean> = {};
  for (const part of text.split(',')) {
    const match = /^\s*([a-z]+)\s*=\s*(\S+)\s*$/.exec(part);
    if (!match) fail('expected key=value pairs separated by commas, e.g. shift=2,rotate=10,scale=0.1');
    const [, key, value] = match;
    if (key in a) fail(`${key} is given twice`);
    const n = Number(value);
    if (!Number.isFinite(n)) fail(`${key}=${value} is not a number`);
    if (key === 'flip' && n !== 0 && n !== 1) fail(`flip=${value} must be 0 or 1`);
    a[key] = key === 'flip' ? n === 1 : n;
  }
  try {
    checkAugmentation(a as Augmentation);
  } catch (e) {
    fail((e as Error).message.replace(/^augment: /, '').replace(/e\.g\. (\w+): /, 'e.g. $1='));
  }
  return a as Augmentation;
}
