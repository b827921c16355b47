import type { BufferRange } from '../gpu/buffers.js';
import type { Engine } from '../gpu/engine.js';
import { DisposedError, ShapeError } from '../gpu/errors.js';
import { gatherBatchKernel, gatherBatchUniforms, type GatherBatchParams } from '../kernels/gather_batch.js';
import { checkSeed } from '../kernels/random.js';
import { checkAugmentation, isIdentityAugmentation, type Augmentation } from './augment.js';
import { imageBytes, type ImageDataset } from './dataset.js';
import { describeBytes, storageLimit } from '../graph/check_limits.js';
import { StandaloneLaunch, type PassOpener } from '../graph/standalone_launch.js';

/** How pixel bytes become inputs: (byte/255 − mean)/std, the same for every channel (a Predictor also takes per-channel lists: `InputNormalisation`). */
export interface Normalisation {
  mean: number;
  std: number;
}

/** Options of `GpuImageDataset.batcher`. */
export interface BatcherOptions {
  /**
   * A random affine transform per sample, applied in the gather kernel itself (see `Augmentation`).
   * Absent, or every field 0: the plain gather, unchanged.
   */
  augment?: Augmentation;
  /** Philox key of the augmentation (an integer in [0, 2^53), default 0): the same seed and draw give the same images. */
  seed?: number;
}

/** Bytes to [0, 1]: byte/255, unchanged (mean 0, std 1). */
export const UNIT_RANGE: Normalisation = { mean: 0, std: 1 }; // [0, 1]
/** Bytes to [−1, 1]: (byte/255 − 0.5)/0.5, the range of a tanh generator. */
export const SYMMETRIC_RANGE: Normalisation = { mean: 0.5, std: 0.5 }; // [−1, 1], for tanh generators

/**
 * An image dataset uploaded once to the GPU as bytes (a quarter of the memory of floats), with a
 * per-epoch sample order. Batches are gathered and normalised by a kernel recorded into the same
 * command buffer as the training step, so no data crosses the bus while training.
 */
export class GpuImageDataset {
  readonly count: number;
  readonly pixels: number;
  private images: GPUBuffer | undefined;
  private labels: GPUBuffer | undefined;
  private order: GPUBuffer | undefined;

  constructor(
    private readonly engine: Engine,
    readonly data: ImageDataset,
    readonly normalisation: Normalisation = UNIT_RANGE,
  ) {
    this.count = data.count;
    this.pixels = imageBytes(data);
    checkDatasetSize(engine, data);
    this.images = engine.createStorage(data.images.byteLength, 'dataset images');
    engine.upload(this.images, padTo4(data.images));
    this.labels = engine.createStorage(data.labels.byteLength, 'dataset labels');
    engine.upload(this.labels, padTo4(data.labels));
    this.order = engine.createStorage(this.count * 4, 'dataset order');
    this.setOrder(Uint32Array.from({ length: this.count }, (_, i) => i));
  }

  /** Uses a fresh random order of the samples (see `shuffledOrder`). */
  shuffle(seed: number): void {
    this.setOrder(shuffledOrder(this.count, seed));
  }

  /** Sets the order in which batches take the samples: a permutation of 0 … count − 1. */
  setOrder(order: Uint32Array): void {
    if (order.length !== this.count) throw new ShapeError(`dataset order has ${order.length} entries for ${this.count} samples`);
    this.engine.upload(this.buffers().order, order);
  }

  /**
   * A gatherer writing batches of `batch` samples into `x` (f32, batch × pixels values) and `y`
   * (u32 labels); its pipeline and bind group are made here once. With `options.augment`, every
   * sample is randomly transformed on the way (labels unchanged); `Batcher.encode`'s `draw` picks
   * the transforms. Bad options throw a `ShapeError` before any GPU work.
   */
  async batcher(batch: number, x: BufferRange, y: BufferRange, options: BatcherOptions = {}): Promise<Batcher> {
    if (x.size < batch * this.pixels * 4) {
      throw new ShapeError(`batch input holds ${x.size / 4} values; ${batch} samples of ${this.pixels} pixels need ${batch * this.pixels}`);
    }
    const { height, width } = this.data;
    const params: GatherBatchParams = { batch, pixels: this.pixels, count: this.count, channels: this.data.channels ?? 1, ...this.pixelNormalisation() };
    const a = options.augment;
    if (a) checkAugmentation(a, { height, width });
    if (a && !isIdentityAugmentation(a)) {
      const seed = options.seed ?? 0;
      checkSeed('augment', seed);
      params.augment = { height, width, seed, shift: a.shift ?? 0, rotate: a.rotate ?? 0, scale: a.scale ?? 0, crop: a.crop ?? 0, flip: a.flip ?? false };
    }
    const b = this.buffers();
    const launch = await StandaloneLaunch.create(this.engine, gatherBatchKernel(params), [
      b.images,
      b.labels,
      b.order,
      { ...x, size: batch * this.pixels * 4 },
      { ...y, size: batch * 4 },
    ]);
    return new Batcher(params, launch);
  }

  /**
   * The dataset's own per-channel statistics (`ImageDataset.channelNormalisation`) when it has them,
   * else `normalisation`. Both at once would be two normalisations of one pixel: refused.
   */
  private pixelNormalisation(): Pick<GatherBatchParams, 'mean' | 'std'> {
    const own = this.data.channelNormalisation;
    if (!own) return this.normalisation;
    const { mean, std } = this.normalisation;
    if (mean !== UNIT_RANGE.mean || std !== UNIT_RANGE.std) {
      throw new ShapeError(
        `dataset: its images carry per-channel normalisation (mean [${own.mean.join(', ')}]), and normalisation { mean: ${mean}, std: ${std} } was given too; ` +
          'leave the normalisation option out, or drop channelNormalisation from the dataset',
      );
    }
    return own;
  }

  /** Frees the dataset's GPU buffers; using it after is a DisposedError. */
  dispose(): void {
    for (const b of [this.images, this.labels, this.order]) if (b) this.engine.buffers.destroy(b);
    this.images = this.labels = this.order = undefined;
  }

  private buffers(): { images: GPUBuffer; labels: GPUBuffer; order: GPUBuffer } {
    if (!this.images || !this.labels || !this.order) throw new DisposedError('dataset was used after dispose()');
    return { images: this.images, labels: this.labels, order: this.order };
  }
}

/** A random order of `count` samples (Fisher–Yates from a seeded generator), the same for the same seed. */
export function shuffledOrder(count: number, seed: number): Uint32Array {
  const order = Uint32Array.from({ length: count }, (_, i) => i);
  let state = (seed * 2654435761 + 1) >>> 0;
  const next = () => {
    // xorshift32: enough to permute samples, and reproducible from the seed.
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 4294967296;
  };
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** Records the gather of the batch of samples order[start …] into a command encoder. */
export class Batcher {
  constructor(
    readonly params: GatherBatchParams,
    private readonly launch: StandaloneLaunch,
  ) {}

  /** Batches per epoch, counting a final partial batch (which is topped up from the start). */
  get batchesPerEpoch(): number {
    return Math.ceil(this.params.count / this.params.batch);
  }

  /**
   * Records the gather of samples order[start], order[start + 1], … (wrapping around). `draw`, a
   * counter the caller advances every step (an integer in [0, 2^32)), selects the augmentation's
   * random transforms: the same seed and draw give the same images. Without augmentation it is
   * ignored. Each call's uniforms hold until the next call, so submit between calls.
   */
  encode(encoder: GPUCommandEncoder, start: number, draw = 0, beginPass?: PassOpener): void {
    this.launch.encode(encoder, gatherBatchUniforms(this.params, start, draw), beginPass);
  }

  /** Frees the gather launch's uniform buffer and bind group. */
  dispose(): void {
    this.launch.dispose();
  }
}

/** The images are bound whole by the gather kernel, so they must fit one storage binding. */
function checkDatasetSize(engine: Engine, data: ImageDataset): void {
  const limit = storageLimit(engine);
  const bytes = data.images.byteLength;
  if (bytes <= limit.bytes) return;
  const fit = Math.floor(limit.bytes / imageBytes(data));
  throw new ShapeError(
    `dataset: ${data.count} images of ${data.height}×${data.width}×${data.channels ?? 1} take ${describeBytes(bytes)} on the GPU, over this device's ${limit.name} of ` +
      `${describeBytes(limit.bytes)}; train on at most ${fit} of them (e.g. --limit ${fit}) or on smaller images`,
  );
}

function padTo4(bytes: Uint8Array): Uint8Array {
  if (bytes.byteLength % 4 === 0) return bytes;
  const out = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
  out.set(bytes);
  return out;
}
