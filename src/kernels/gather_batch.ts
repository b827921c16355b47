import { gatherBatchShader } from '../../shaders/gather_batch.js';
import { seedWords } from '../../shaders/lib/philox.js';
import { ShapeError } from '../gpu/errors.js';
import { ceilDiv, dispatch1D } from './geometry.js';
import { UniformWriter, type KernelSpec } from './kernel.js';
import { checkSeed, checkStream } from './random.js';

const WG = 256;
// Pixels of one image row per invocation of the augmented gather: a whole row up to this many.
// Per-invocation work (Philox, index divisions, sin/cos) dominates on SwiftShader: for batch 128
// of 28×28, 1 / 4 / 8 / 28 pixels per invocation took about 60 / 21 / 16 / 8 ms, the plain copy 5 ms.
const MAX_ROW_SEGMENT = 32;

/** A random affine transform per sample, as drawn by the augmented gather. */
export interface GatherAugment {
  height: number;
  width: number;
  /** Philox key (an integer in [0, 2^53)); the draw counter is the stream, the batch row the counter. */
  seed: number;
  /** Largest translation in pixels (drawn in ±shift, rounded to whole pixels). */
  shift: number;
  /** Largest rotation in degrees. */
  rotate: number;
  /** Scale factor drawn in [1 − scale, 1 + scale]. */
  scale: number;
  /** Padding of the random crop: whole-pixel translation drawn uniformly in −crop … crop (0: none; then `shift` applies). */
  crop?: number;
  /** Mirror left–right with probability ½. */
  flip?: boolean;
}

/** Most channels the gather normalises separately (their means and scales sit in two vec4 uniforms). */
export const MAX_GATHER_CHANNELS = 4;

export interface GatherBatchParams {
  batch: number;
  /** Bytes per sample (height × width × channels), channel planes one after another. */
  pixels: number;
  /** Samples in the dataset (length of `order`). */
  count: number;
  /**
   * Pixels become (byte/255 − mean)/std: mean 0, std 1 gives [0, 1]; mean 0.5, std 0.5 gives
   * [−1, 1]. A list gives one value per channel (at most MAX_GATHER_CHANNELS).
   */
  mean: number | readonly number[];
  std: number | readonly number[];
  /** Channel planes per sample (default 1); `pixels` is a multiple of it. */
  channels?: number;
  /** Present: the augmented variant (even when every range is 0); absent: the plain copy. */
  augment?: GatherAugment;
}

/** Uniforms of one gather: the batch starts at order[start]; `draw` picks the augmentation stream. */
export function gatherBatchUniforms(p: GatherBatchParams, start: number, draw = 0): ArrayBuffer {
  const channels = p.channels ?? 1;
  const perChannel = (v: number | readonly number[]) => Array.from({ length: MAX_GATHER_CHANNELS }, (_, c) => (typeof v === 'number' ? v : (v[c] ?? 1)));
  const w = new UniformWriter()
    .u32(p.batch, p.pixels, start, p.count)
    .f32(...perChannel(p.mean))
    .f32(...perChannel(p.std).map((s) => 1 / s))
    .u32(p.pixels / channels);
  const a = p.augment;
  if (!a) return w.finish();
  checkStream('gather_batch', draw);
  const [lo, hi] = seedWords(a.seed);
  return w
    .u32(a.height, a.width, lo, hi, draw)
    .f32(a.shift, (a.rotate * Math.PI) / 180, a.scale)
    .u32(a.crop ?? 0, a.flip ? 1 : 0)
    .finish();
}

/** Throws a ShapeError unless the channel count divides the sample and matches any per-channel lists. */
function checkChannels(p: GatherBatchParams): void {
  const channels = p.channels ?? 1;
  if (!Number.isInteger(channels) || channels < 1 || channels > MAX_GATHER_CHANNELS || p.pixels % channels !== 0) {
    throw new ShapeError(`gather_batch: ${channels} channels must be an integer in [1, ${MAX_GATHER_CHANNELS}] dividing the ${p.pixels} bytes of a sample`);
  }
  for (const [name, v] of [['mean', p.mean], ['std', p.std]] as const) {
    if (typeof v !== 'number' && v.length !== channels) {
      throw new ShapeError(`gather_batch: normalisation ${name} [${v.join(', ')}] has ${v.length} values for ${channels}-channel images; give one per channel, or one number for all`);
    }
  }
}

/** Bindings: images (packed u8), labels (packed u8), order (u32), x [batch, pixels] f32, y [batch] u32. */
export function gatherBatchKernel(p: GatherBatchParams, start = 0, draw = 0): KernelSpec {
  checkChannels(p);
  const a = p.augment;
  if (!a) {
    return {
      name: 'gather_batch',
      code: gatherBatchShader(),
      entryPoint: 'main',
      constants: { WG },
      bindings: ['read', 'read', 'read', 'write', 'write', 'uniform'],
      workgroups: dispatch1D(p.batch * p.pixels, WG),
      uniforms: gatherBatchUniforms(p, start),
    };
  }
  const channels = p.channels ?? 1;
  if (a.height * a.width * channels !== p.pixels) {
    throw new ShapeError(`gather_batch: augmenting ${a.height}×${a.width} images of ${channels} channel(s) needs samples of ${a.height * a.width * channels} bytes, got ${p.pixels}`);
  }
  checkSeed('gather_batch', a.seed);
  const segment = Math.min(a.width, MAX_ROW_SEGMENT);
  return {
    name: 'gather_batch_augment',
    code: gatherBatchShader(true),
    entryPoint: 'main',
    constants: { WG, SEGMENT: segment },
    bindings: ['read', 'read', 'read', 'write', 'write', 'uniform'],
    workgroups: dispatch1D(p.batch * channels * a.height * ceilDiv(a.width, segment), WG),
    uniforms: gatherBatchUniforms(p, start, draw),
  };
}
