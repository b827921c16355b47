import type { Engine } from '../gpu/engine.js';
import type { BufferRange } from '../gpu/buffers.js';
import { accumulateKernel } from '../kernels/accumulate.js';
import { encodeLaunch, makeLaunch, type Launch } from '../graph/plan.js';

/**
 * Running sums of a step's scalar outputs (loss, correct count), accumulated on the GPU after every
 * step. Snapshots are copied to one of a few staging buffers and mapped asynchronously, so showing
 * progress never stalls the training loop.
 */
export class MetricSums {
  private launch: Launch | undefined;
  private readonly owned: GPUBuffer[] = [];
  private readonly staging: { buffer: GPUBuffer; busy: boolean }[] = [];
  private readonly sums: GPUBuffer;

  private constructor(
    private readonly engine: Engine,
    readonly names: readonly string[],
  ) {
    this.sums = engine.createStorage(names.length * 4, 'metric sums');
    this.owned.push(this.sums);
    for (let i = 0; i < 3; i++) {
      const buffer = engine.buffers.create(names.length * 4, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, `metric staging ${i}`);
      this.owned.push(buffer);
      this.staging.push({ buffer, busy: false });
    }
  }

  /** Running sums of the one-element values at `sources`, named by `names` in the same order. */
  static async create(engine: Engine, names: readonly string[], sources: readonly BufferRange[]): Promise<MetricSums> {
    const m = new MetricSums(engine, names);
    m.launch = await makeLaunch(engine, accumulateKernel(sources.length), [...sources, m.sums], m.owned);
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
  snapshot(encoder: GPUCommandEncoder): (() => Promise<Record<string, number>>) | undefined {
    const slot = this.staging.find((s) => !s.busy);
    if (!slot) return undefined;
    slot.busy = true;
    encoder.copyBufferToBuffer(this.sums, 0, slot.buffer, 0, this.names.length * 4);
    return async () => {
      try {
        await slot.buffer.mapAsync(GPUMapMode.READ);
        const values = new Float32Array(slot.buffer.getMappedRange().slice(0));
        slot.buffer.unmap();
        return Object.fromEntries(this.names.map((n, i) => [n, values[i]]));
      } finally {
        slot.busy = false;
      }
    };
  }

  /** The sums after all submitted work (waits for the GPU). */
  async read(): Promise<Record<string, number>> {
    const encoder = this.engine.device.createCommandEncoder();
    let collect = this.snapshot(encoder);
    while (!collect) {
      await this.engine.device.queue.onSubmittedWorkDone();
      collect = this.snapshot(encoder);
    }
    this.engine.device.queue.submit([encoder.finish()]);
    return collect();
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
