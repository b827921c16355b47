import { philoxRandom, toUnit } from './random.js';

/**
 * Float64 reference of the batch gather with optional random affine augmentation, written from the
 * definition: row b is sample order[(start + b) % count]; with augmentation, a forward affine map
 * (scale, rotate about the image centre, translate) is built as a matrix, inverted, and each output
 * pixel bilinearly samples the source at its preimage, zero outside; then (v/255 − mean)/std.
 */

export interface GatherRefParams {
  height: number;
  width: number;
  batch: number;
  start: number;
  /** One value for every channel, or one per channel. */
  mean: number | readonly number[];
  std: number | readonly number[];
  /** Channel planes per image (default 1). */
  channels?: number;
}

export interface AugmentRefParams {
  seed: number;
  draw: number;
  shift: number;
  /** Degrees. */
  rotate: number;
  scale: number;
  /** Crop padding: translation uniform over −crop … crop whole pixels (replaces shift when > 0). */
  crop?: number;
  flip?: boolean;
}

/** One sample's transform: translation in whole pixels, angle in radians, scale factor. */
export interface AffineDraw {
  dx: number;
  dy: number;
  angle: number;
  factor: number;
  /** Mirrored left–right after the affine map. */
  flipped: boolean;
}

/**
 * The draws of batch row `row`: word i of philox(seed, stream = draw, counter = row) as a unit
 * value u_i; dx, dy = round(shift·(2u − 1)) with the product formed in f32 and ties to even,
 * since rounding is discontinuous and must see the kernel's f32 value; angle and factor in float64.
 */
export function affineDraw(a: AugmentRefParams, row: number): AffineDraw {
  const bits = philoxRandom(a.seed, a.draw, row);
  const u = Array.from(bits, toUnit);
  const shift = Math.fround(a.shift);
  const crop = a.crop ?? 0;
  // The crop's offset: which of the 2·crop + 1 equally likely positions u falls in (product in f32, as the kernel forms it).
  const pixels = (v: number) => (crop > 0 ? Math.floor(Math.fround(v * (2 * crop + 1))) - crop : roundHalfEven(Math.fround(shift * Math.fround(2 * v - 1))));
  return {
    flipped: (a.flip ?? false) && (bits[0] & 1) === 1,
    dx: pixels(u[0]),
    dy: pixels(u[1]),
    angle: ((a.rotate * Math.PI) / 180) * (2 * u[2] - 1),
    factor: 1 + a.scale * (2 * u[3] - 1),
  };
}

function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const frac = v - f;
  if (frac > 0.5) return f + 1;
  if (frac < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Bilinear sample of a [height, width] byte image at (x, y) = (column, row), zero outside. */
export function bilinear(image: Uint8Array, height: number, width: number, x: number, y: number): number {
  const at = (r: number, c: number) => (r >= 0 && r < height && c >= 0 && c < width ? image[r * width + c] : 0);
  const c0 = Math.floor(x);
  const r0 = Math.floor(y);
  const fx = x - c0;
  const fy = y - r0;
  return (
    (1 - fy) * ((1 - fx) * at(r0, c0) + fx * at(r0, c0 + 1)) +
    fy * ((1 - fx) * at(r0 + 1, c0) + fx * at(r0 + 1, c0 + 1))
  );
}

/** Output image of one sample under the forward map out = s·R(angle)·(in − c) + c + d. */
export function transformImage(image: Uint8Array, height: number, width: number, d: AffineDraw): Float64Array {
  const cx = (width - 1) / 2;
  const cy = (height - 1) / 2;
  const cos = Math.cos(d.angle);
  const sin = Math.sin(d.angle);
  // Forward map as A·p + t, then inverted: p = A⁻¹·(out − t).
  const a = [d.factor * cos, -d.factor * sin, d.factor * sin, d.factor * cos];
  const t = [cx + d.dx - (a[0] * cx + a[1] * cy), cy + d.dy - (a[2] * cx + a[3] * cy)];
  const det = a[0] * a[3] - a[1] * a[2];
  const inv = [a[3] / det, -a[1] / det, -a[2] / det, a[0] / det];
  const out = new Float64Array(height * width);
  for (let r = 0; r < height; r++) {
    for (let c = 0; c < width; c++) {
      const ox = c - t[0];
      const oy = r - t[1];
      out[r * width + c] = bilinear(image, height, width, inv[0] * ox + inv[1] * oy, inv[2] * ox + inv[3] * oy);
    }
  }
  if (!d.flipped) return out;
  const mirrored = new Float64Array(height * width);
  for (let r = 0; r < height; r++) for (let c = 0; c < width; c++) mirrored[r * width + c] = out[r * width + width - 1 - c];
  return mirrored;
}

/** x [batch, height·width] (normalised) and y [batch] of one gathered batch. */
export function gatherBatchRef(
  images: Uint8Array,
  labels: Uint8Array,
  order: Uint32Array,
  p: GatherRefParams,
  augment?: AugmentRefParams,
): { x: Float64Array; y: Uint32Array } {
  const plane = p.height * p.width;
  const channels = p.channels ?? 1;
  const pixels = plane * channels;
  const x = new Float64Array(p.batch * pixels);
  const y = new Uint32Array(p.batch);
  const of = (v: number | readonly number[], c: number) => (typeof v === 'number' ? v : v[c]);
  for (let b = 0; b < p.batch; b++) {
    const sample = order[(p.start + b) % order.length];
    for (let c = 0; c < channels; c++) {
      const from = sample * pixels + c * plane;
      const image = images.subarray(from, from + plane);
      const values = augment ? transformImage(image, p.height, p.width, affineDraw(augment, b)) : Float64Array.from(image);
      for (let i = 0; i < plane; i++) x[b * pixels + c * plane + i] = (values[i] / 255 - of(p.mean, c)) / of(p.std, c);
    }
    y[b] = labels[sample];
  }
  return { x, y };
}
