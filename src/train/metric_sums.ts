import type { Engine } from '../gpu/engine.js';
import { ShapeError } from '../gpu/errors.js';
import type { BufferRange } from '../gpu/buffers.js';
import { accumulateKernel } from '../kernels/accumulate.js';
import { encodeLaunch, makeLaunch, type Launch } from '../gpu/launch.js';

/** What one readback of the sums holds. */
export interface MetricSnapshot {
  sums: Record<string, number>;
  /**
   * With a health record: per metric, the first step (the training step's run number) at which its
   * value was positive since the last reset, or 0.
   */
  firstPositive: Record<string, number>;
  /** The training step's health record as it was after the same step (see `decodeStepHealth`). */
  health?: Uint32Array;
}

/**
 * Running sums of a step's scalar outputs (loss, correct count), accumulated on the GPU after every
 * step. Snapshots are copied to one of a few staging buffers and mapped asynchronously, so showing
 * progress never stalls the training loop.
 *
 * Given the training step's health record, a step whose update was skipped (non-finite loss or
 * gradients) adds to no sum, and every snapshot carries the record with it: divergence is learnt
 * at the readbacks that happen anyway.
 */
export class MetricSums {
  private launch: Launch | undefined;
  private readonly owned: GPUBuffer[] = [];
  private readonly staging: { buffer: GPUBuffer; busy: boolean }[] = [];
  private readonly sums: GPUBuffer;
  /** Bytes of sums, then of first positive steps when guarded. */
  private readonly sumsBytes: number;

  private constructor(
    private readonly engine: Engine,
    readonly names: readonly string[],
    private readonly health: BufferRange | undefined,
  ) {
    this.sumsBytes = names.length * 4 * (health ? 2 : 1);
    this.sums = engine.createStorage(this.sumsBytes, 'metric sums');
    this.owned.push(this.sums);
    for (let i = 0; i < 3; i++) {
      const buffer = engine.buffers.create(this.sumsBytes + (health?.size ?? 0), GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, `metric staging ${i}`);
      this.owned.push(buffer);
      this.staging.push({ buffer, busy: false });
    }
  }

  /**
   * Running sums of the one-element values at `sources`, named by `names` in the same order;
   * `health` is the training step's record (`CompiledStep.healthRange`), if it has one.
   */
  static async create(engine: Engine, names: readonly string[], sources: readonly BufferRange[], health?: BufferRange): Promise<MetricSums> {
    const m = new MetricSums(engine, names, health);
    const bindings = health ? [...sources, m.sums, health] : [...sources, m.sums];
    m.launch = await makeLaunch(engine, accumulateKernel(sources.length, health !== undefined), bindings, m.owned);
    return m;
  }

  /** Adds the current values of the sources to the sums; record after the step that writes them. */
  encode(pass: GPUComputePassEncoder): void {
    if (this.launch) encodeLaunch(pass, this.launch);
  }

  /**
   * Records a copy of the sums into a free staging buffer. After submitting `encoder`, call the
   * returned function to get the values when the GPU gets there. Undefined when every staging
   * buffer is still in flight (the snapshot is simply skipped).
   */
  snapshot(encoder: GPUCommandEncoder): (() => Promise<MetricSnapshot>) | undefined {
    const slot = this.staging.find((s) => !s.busy);
    if (!slot) return undefined;
    slot.busy = true;
    encoder.copyBufferToBuffer(this.sums, 0, slot.buffer, 0, this.sumsBytes);
    const h = this.health;
    if (h) encoder.copyBufferToBuffer(h.buffer, h.offset, slot.buffer, this.sumsBytes, h.size);
    return async () => {
      try {
        await slot.buffer.mapAsync(GPUMapMode.READ);
        const bytes = slot.buffer.getMappedRange().slice(0);
        slot.buffer.unmap();
        const values = new Float32Array(bytes, 0, this.sumsBytes / 4);
        const k = this.names.length;
        return {
          sums: Object.fromEntries(this.names.map((n, i) => [n, values[i]])),
          firstPositive: Object.fromEntries(this.names.map((n, i) => [n, h ? values[k + i] : 0])),
          health: h && new Uint32Array(bytes, this.sumsBytes, h.size / 4),
        };
      } finally {
        slot.busy = false;
      }
    };
  }

  /** The sums after all submitted work (waits for the GPU). */
  async read(): Promise<MetricSnapshot> {
    const encoder = this.engine.device.createCommandEncoder();
    let collect = this.snapshot(encoder);
    while (!collect) {
      await this.engine.device.queue.onSubmittedWorkDone();
      collect = this.snapshot(encoder);
    }
    this.engine.device.queue.submit([encoder.finish()]);
    return collect();
  }

  /** Bytes of the sums' whole state (the sums, and their first positive steps when guarded). */
  get stateBytes(): number {
    return this.sumsBytes;
  }

  /** Records a copy of the sums' whole state (`stateBytes`) to `dst` at `offset`. */
  copyTo(encoder: GPUCommandEncoder, dst: GPUBuffer, offset: number): void {
    encoder.copyBufferToBuffer(this.sums, 0, dst, offset, this.sumsBytes);
  }

  /** Sets the whole state to one copied by `copyTo`, e.g. of a snapshot an epoch resumes from. */
  load(state: Float32Array): void {
    if (state.byteLength !== this.sumsBytes) throw new ShapeError(`metric sums: a state of ${state.byteLength} bytes given for ${this.sumsBytes} (sums: ${this.names.join(', ')})`);
    this.engine.upload(this.sums, state);
  }

  reset(): void {
    const encoder = this.engine.device.createCommandEncoder();
    encoder.clearBuffer(this.sums);
    this.engine.device.queue.submit([encoder.finish()]);
  }

  dispose(): void {
    for (const b of this.owned) this.engine.buffers.destroy(b);
  }
}
