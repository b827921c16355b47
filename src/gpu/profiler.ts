import type { GpuContext } from './context.js';
import { KernelError } from './errors.js';

/** GPU time of one profiled compute pass. */
export interface PassTiming {
  /** The pass's label: the kernel name for a profiled step. */
  name: string;
  /** Milliseconds between the pass's first and last timestamp, as the GPU measured them. */
  ms: number;
}

// WebGPU caps a query set at 4096 queries; two per pass.
const MAX_PASSES = 2048;

/**
 * Times compute passes with the `timestamp-query` feature: each pass begun here writes a
 * timestamp at its start and end, and `read()` resolves them all at once. Timing on the GPU's own
 * clock excludes submit and readback overhead, which on small kernels dwarfs the work itself.
 * Browsers may coarsen timestamps (Chrome rounds to 100 µs unless started with
 * --enable-dawn-features=allow_unsafe_apis), so single short kernels read as 0 or 0.1 ms there.
 */
export class TimestampProfiler {
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuffer: GPUBuffer;
  private readonly names: string[] = [];
  private disposed = false;

  /** Whether the engine's device was granted `timestamp-query`. */
  static supported(engine: Pick<GpuContext, 'device'>): boolean {
    return engine.device.features.has('timestamp-query');
  }

  constructor(
    private readonly engine: GpuContext,
    readonly capacity: number,
  ) {
    if (!TimestampProfiler.supported(engine)) {
      throw new KernelError(
        'profiler',
        "this device has no 'timestamp-query' feature, so GPU time cannot be measured; in Chrome start it with " +
          '--enable-dawn-features=allow_unsafe_apis or use a browser/adapter that offers the feature',
      );
    }
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_PASSES) {
      throw new KernelError('profiler', `can time 1 to ${MAX_PASSES} passes at once, asked for ${capacity}`);
    }
    this.querySet = engine.device.createQuerySet({ type: 'timestamp', count: 2 * capacity, label: 'profiler' });
    this.resolveBuffer = engine.buffers.create(16 * capacity, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, 'profiler timestamps');
  }

  /** Begins a compute pass whose GPU time is recorded under `name`. */
  beginPass(encoder: GPUCommandEncoder, name: string): GPUComputePassEncoder {
    if (this.disposed) throw new KernelError('profiler', 'used after dispose()');
    const slot = this.names.length;
    if (slot >= this.capacity) throw new KernelError('profiler', `more than the ${this.capacity} passes it was made for`);
    this.names.push(name);
    return encoder.beginComputePass({
      label: name,
      timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: 2 * slot, endOfPassWriteIndex: 2 * slot + 1 },
    });
  }

  /** Copies the timestamps of every pass begun so far into a readable buffer; record after the last pass. */
  resolve(encoder: GPUCommandEncoder): void {
    if (this.names.length) encoder.resolveQuerySet(this.querySet, 0, 2 * this.names.length, this.resolveBuffer, 0);
  }

  /** Waits for the GPU and returns one timing per pass, in the order they were begun; then starts over. */
  async read(): Promise<PassTiming[]> {
    const count = this.names.length;
    if (!count) return [];
    const bytes = await this.engine.readBytes(this.resolveBuffer, 16 * count);
    const ticks = new BigUint64Array(bytes);
    const timings = this.names.map((name, i) => {
      const [begin, end] = [ticks[2 * i], ticks[2 * i + 1]];
      // Timestamps are nanoseconds; an end before its beginning (a clock reset) counts as 0.
      return { name, ms: end > begin ? Number(end - begin) / 1e6 : 0 };
    });
    this.names.length = 0;
    return timings;
  }

  /** Frees the query set and its resolve buffer. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.querySet.destroy();
    this.engine.buffers.destroy(this.resolveBuffer);
  }
}

/** Total GPU time and launch count per kernel name, largest first. */
export function summarizeTimings(timings: readonly PassTiming[]): { name: string; ms: number; launches: number; share: number }[] {
  const byName = new Map<string, { ms: number; launches: number }>();
  for (const t of timings) {
    const s = byName.get(t.name) ?? { ms: 0, launches: 0 };
    s.ms += t.ms;
    s.launches++;
    byName.set(t.name, s);
  }
  const total = timings.reduce((a, t) => a + t.ms, 0);
  return [...byName]
    .map(([name, s]) => ({ name, ...s, share: total > 0 ? s.ms / total : 0 }))
    .sort((a, b) => b.ms - a.ms);
}
