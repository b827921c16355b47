import { BufferRegistry } from './buffers.js';
import type { GpuContext } from './context.js';
import type { KernelSpec } from './kernel_spec.js';
import { encodeLaunch, makeLaunch, type Launch } from './launch.js';
import { TimestampProfiler } from './profiler.js';
import { median, nextRepeatCount, timingMethod } from './tune_timing.js';

/** A launch timed as part of a candidate, binding the buffers at `buffers` of those given to `time`. */
export interface TuneLaunch {
  spec: KernelSpec;
  buffers: readonly number[];
}

/**
 * Times kernel launches on the device. What it makes (throwaway operands, uniforms, timestamp and
 * readback buffers) lives in a registry of its own, destroyed by `dispose`: tuning in the
 * background never shows in the engine's buffer counts, and never frees what it did not make.
 */
export class LaunchTimer {
  private readonly registry: BufferRegistry;
  /** The engine's device, pipelines and adapter, with this timer's registry and readback. */
  private readonly context: GpuContext;

  constructor(engine: GpuContext) {
    const device = engine.device;
    this.registry = new BufferRegistry(device);
    const registry = this.registry;
    this.context = {
      device,
      info: engine.info,
      pipelines: engine.pipelines,
      buffers: registry,
      async readBytes(buffer, bytes, offsetBytes = 0) {
        const size = Math.max(4, Math.ceil(bytes / 4) * 4);
        const staging = registry.create(size, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'tune readback');
        try {
          const encoder = device.createCommandEncoder();
          encoder.copyBufferToBuffer(buffer, offsetBytes, staging, 0, size);
          device.queue.submit([encoder.finish()]);
          await staging.mapAsync(GPUMapMode.READ);
          return staging.getMappedRange().slice(0, bytes);
        } finally {
          registry.destroy(staging);
        }
      },
    };
  }

  /** Zeroed storage buffers of these sizes, owned by this timer. */
  storage(bytes: readonly number[]): GPUBuffer[] {
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    return bytes.map((b, i) => this.registry.create(b, usage, `tune operand ${i}`));
  }

  /**
   * Median time of `launches` (one pass) in milliseconds over `runs` runs after a warm-up. GPU
   * timestamps where the device has them, unless their samples are quantised too coarsely to rank
   * the candidate (tune_timing.ts); then wall clock over as many repeats in one submit as make it
   * last WALL_TARGET_MS, divided by the repeats.
   */
  async time(launches: readonly TuneLaunch[], buffers: readonly GPUBuffer[], runs = 3): Promise<number> {
    const owned: GPUBuffer[] = [];
    try {
      const bound: Launch[] = [];
      for (const { spec, buffers: indices } of launches) {
        bound.push(await makeLaunch(this.context, spec, indices.map((i) => buffers[i]), owned));
      }
      const record = (pass: GPUComputePassEncoder, repeats = 1) => {
        for (let r = 0; r < repeats; r++) for (const launch of bound) encodeLaunch(pass, launch);
        pass.end();
      };
      if (TimestampProfiler.supported(this.context)) {
        const method = timingMethod(await this.timestampSamples(record, runs));
        if (method.kind === 'timestamps') return method.ms;
      }
      return await this.wallClock(record, runs);
    } finally {
      for (const u of owned) this.registry.destroy(u);
    }
  }

  /** GPU times of `runs` passes after one untimed warm-up, all in one submit. */
  private async timestampSamples(record: (pass: GPUComputePassEncoder) => void, runs: number): Promise<number[]> {
    const profiler = new TimestampProfiler(this.context, runs);
    try {
      const encoder = this.context.device.createCommandEncoder();
      record(encoder.beginComputePass());
      for (let i = 0; i < runs; i++) record(profiler.beginPass(encoder, 'tune'));
      profiler.resolve(encoder);
      this.context.device.queue.submit([encoder.finish()]);
      return (await profiler.read()).map((t) => t.ms);
    } finally {
      profiler.dispose();
    }
  }

  /** Wall-clock time per repeat of the launches, the repeat count grown until a submit is long enough. */
  private async wallClock(record: (pass: GPUComputePassEncoder, repeats: number) => void, runs: number): Promise<number> {
    const { device } = this.context;
    const submit = async (repeats: number) => {
      const encoder = device.createCommandEncoder();
      record(encoder.beginComputePass(), repeats);
      const start = performance.now();
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
      return performance.now() - start;
    };
    await submit(1); // compilation and first-touch costs
    let repeats = 1;
    for (;;) {
      const next = nextRepeatCount(repeats, await submit(repeats));
      if (next === undefined) break;
      repeats = next;
    }
    const times: number[] = [];
    for (let i = 0; i < runs; i++) times.push((await submit(repeats)) / repeats);
    return median(times);
  }

  dispose(): void {
    this.registry.destroyAll();
  }
}
