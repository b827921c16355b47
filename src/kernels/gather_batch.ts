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
}

export interface GatherBatchParams {
  batch: number;
  /** Pixels per sample (height × width × channels). */
  pixels: number;
  /** Samples in the dataset (length of `order`). */
  count: number;
  /** Pixels become (byte/255 − mean)/std: mean 0, std 1 gives [0, 1]; mean 0.5, std 0.5 gives [−1, 1]. */
  mean: number;
  std: number;
  /** Present: the augmented variant (even when every range is 0); absent: the plain copy. */
  augment?: GatherAugment;
}

/** Uniforms of one gather: the batch starts at order[start]; `draw` picks the augmentation stream. */
export function gatherBatchUniforms(p: GatherBatchParams, start: number, draw = 0): ArrayBuffer {
  const w = new UniformWriter().u32(p.batch, p.pixels, start, p.count).f32(p.mean, 1 / p.std);
  const a = p.augment;
  if (!a) return w.finish();
  checkStream('gather_batch', draw);
  const [lo, hi] = seedWords(a.seed);
  return w
    .u32(a.height, a.width, lo, hi, draw)
    .f32(a.shift, (a.rotate * Math.PI) / 180, a.scale)
    .finish();
}

/** Bindings: images (packed u8), labels (packed u8), order (u32), x [batch, pixels] f32, y [batch] u32. */
export function gatherBatchKernel(p: GatherBatchParams, start = 0, draw = 0): KernelSpec {
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
  if (a.height * a.width !== p.pixels) {
    throw new ShapeError(`gather_batch: augmenting ${a.height}×${a.width} images needs single-channel samples of ${a.height * a.width} pixels, got ${p.pixels}`);
  }
  checkSeed('gather_batch', a.seed);
  const segment = Math.min(a.width, MAX_ROW_SEGMENT);
  return {
    name: 'gather_batch_augment',
    code: gatherBatchShader(true),
    entryPoint: 'main',
    constants: { WG, SEGMENT: segment },
    bindings: ['read', 'read', 'read', 'write', 'write', 'uniform'],
    workgroups: dispatch1D(p.batch * a.height * ceilDiv(a.width, segment), WG),
    uniforms: gatherBatchUniforms(p, start, draw),
  };
}
