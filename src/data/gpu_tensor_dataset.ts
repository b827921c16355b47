import type { BufferRange } from '../gpu/buffers.js';
import type { Engine } from '../gpu/engine.js';
import { DisposedError, ShapeError } from '../gpu/errors.js';
import { describeBytes, storageLimit } from '../graph/check_limits.js';
import { StandaloneLaunch, type PassOpener } from '../graph/standalone_launch.js';
import { gatherRowsKernel, gatherRowsUniforms, type GatherRowsParams } from '../kernels/gather_rows.js';
import { isIdentityAugmentation } from './augment.js';
import type { ImageDataset } from './dataset.js';
import { GpuImageDataset, shuffledOrder, type BatcherOptions, type Normalisation } from './gpu_dataset.js';
import { isTensorDataset, type TensorDataset } from './tensor_dataset.js';

/** Records the gather of one batch (see `Batcher.encode`). */
export interface BatchGather {
  /** Records the gather of the batch starting at position `start` of the sample order; `draw` numbers the batch's random augmentation. */
  encode(encoder: GPUCommandEncoder, start: number, draw?: number, beginPass?: PassOpener): void;
  /** Frees the gather's uniform buffer and bind group. */
  dispose(): void;
}

/** A dataset resident on the GPU that training and evaluation loops gather batches from. */
export interface ResidentDataset {
  /** Samples in the dataset. */
  readonly count: number;
  /** Sets a fresh random sample order drawn from `seed`. */
  shuffle(seed: number): void;
  /** Sets the sample order: a permutation of 0 … count − 1. */
  setOrder(order: Uint32Array): void;
  /** A gatherer writing batches of `batch` samples into `x` (features) and `y` (targets). */
  batcher(batch: number, x: BufferRange, y: BufferRange, options?: BatcherOptions): Promise<BatchGather>;
  /** Frees the dataset's GPU buffers. */
  dispose(): void;
}

/** Uploads an image dataset (bytes, normalised by `normalisation`) or a tensor dataset (its own normalisation). */
export function uploadDataset(engine: Engine, data: ImageDataset | TensorDataset, normalisation: Normalisation): ResidentDataset {
  return isTensorDataset(data) ? new GpuTensorDataset(engine, data) : new GpuImageDataset(engine, data, normalisation);
}

/**
 * A `TensorDataset` uploaded once to the GPU (features as they are stored, u8 included, and
 * targets as 32-bit words), with a per-epoch sample order. Each batch is gathered by one kernel
 * recorded into the training step's command buffer, so no data crosses the bus while training.
 */
export class GpuTensorDataset implements ResidentDataset {
  readonly count: number;
  private features: GPUBuffer | undefined;
  private targets: GPUBuffer | undefined;
  private order: GPUBuffer | undefined;

  constructor(
    private readonly engine: Engine,
    readonly data: TensorDataset,
  ) {
    this.count = data.count;
    checkFits(engine, data);
    this.features = engine.createStorage(data.features.byteLength, 'dataset features');
    engine.upload(this.features, padTo4(data.features));
    this.targets = engine.createStorage(data.targets.byteLength, 'dataset targets');
    engine.upload(this.targets, data.targets);
    this.order = engine.createStorage(this.count * 4, 'dataset order');
    this.setOrder(Uint32Array.from({ length: this.count }, (_, i) => i));
  }

  /** Values per sample of the features. */
  get featureWidth(): number {
    return this.data.features.length / this.count;
  }

  shuffle(seed: number): void {
    this.setOrder(shuffledOrder(this.count, seed));
  }

  setOrder(order: Uint32Array): void {
    if (order.length !== this.count) throw new ShapeError(`dataset order has ${order.length} entries for ${this.count} samples`);
    this.engine.upload(this.buffers().order, order);
  }

  /**
   * A gatherer writing batches of `batch` samples into `x` ([batch, featureWidth], f32 or u32 as
   * the features) and `y` ([batch, targetWidth]); its pipeline and bind group are made here once.
   */
  async batcher(batch: number, x: BufferRange, y: BufferRange, options: BatcherOptions = {}): Promise<BatchGather> {
    if (options.augment && !isIdentityAugmentation(options.augment)) {
      throw new ShapeError('augment transforms single-channel images; a tensor dataset has no image geometry to transform: leave augment out');
    }
    const { targetWidth, normalisation } = this.data;
    const xWidth = this.featureWidth;
    if (x.size < batch * xWidth * 4) throw new ShapeError(`batch input holds ${x.size / 4} values; ${batch} samples of ${xWidth} features need ${batch * xWidth}`);
    if (y.size < batch * targetWidth * 4) throw new ShapeError(`batch targets hold ${y.size / 4} values; ${batch} samples of ${targetWidth} targets need ${batch * targetWidth}`);
    const params: GatherRowsParams = {
      batch,
      xWidth,
      yWidth: targetWidth,
      count: this.count,
      bytes: this.data.features instanceof Uint8Array,
      mean: normalisation?.mean ?? 0,
      std: normalisation?.std ?? 1,
    };
    const b = this.buffers();
    const launch = await StandaloneLaunch.create(this.engine, gatherRowsKernel(params), [
      b.features,
      b.targets,
      b.order,
      { ...x, size: batch * xWidth * 4 },
      { ...y, size: batch * targetWidth * 4 },
    ]);
    return {
      encode: (encoder, start, _draw, beginPass) => launch.encode(encoder, gatherRowsUniforms(params, start), beginPass),
      dispose: () => launch.dispose(),
    };
  }

  dispose(): void {
    for (const b of [this.features, this.targets, this.order]) if (b) this.engine.buffers.destroy(b);
    this.features = this.targets = this.order = undefined;
  }

  private buffers(): { features: GPUBuffer; targets: GPUBuffer; order: GPUBuffer } {
    if (!this.features || !this.targets || !this.order) throw new DisposedError('dataset was used after dispose()');
    return { features: this.features, targets: this.targets, order: this.order };
  }
}

/** Features and targets are each bound whole by the gather kernel, so each must fit one storage binding. */
function checkFits(engine: Engine, data: TensorDataset): void {
  const limit = storageLimit(engine);
  for (const [what, bytes, perSample] of [
    ['features', data.features.byteLength, data.features.byteLength / data.count],
    ['targets', data.targets.byteLength, data.targets.byteLength / data.count],
  ] as const) {
    if (bytes <= limit.bytes) continue;
    throw new ShapeError(
      `dataset: ${data.count} samples' ${what} take ${describeBytes(bytes)} on the GPU, over this device's ${limit.name} of ${describeBytes(limit.bytes)}; ` +
        `train on at most ${Math.floor(limit.bytes / perSample)} samples at a time`,
    );
  }
}

function padTo4(bytes: Uint8Array | Float32Array | Uint32Array): ArrayBufferView {
  if (bytes.byteLength % 4 === 0) return bytes;
  const out = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
  out.set(bytes as Uint8Array);
  return out;
}
