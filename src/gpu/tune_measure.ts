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
 * How one candidate was timed: by GPU timestamps, or by wall clock over `repeats` launches per
 * submit because the device has no timestamp queries or its timestamps step by `quantumMs`
 * (Infinity: they never saw the work), too coarse to rank the candidate.
 */
export type CandidateTiming =
  | { ms: number; timer: 'timestamps' }
  | { ms: number; timer: 'wall-clock'; reason: 'no-timestamps' | 'coarse-timestamps'; quantumMs?: number; repeats: number };

/**
 * What the autotuner measured for one shape class (`Autotuner.records`): the winner, and each
 * candidate's time with the clock that took it (`ms` alone where the time came from elsewhere).
 */
export interface TuneRecord {
  winner: string;
  timings: Record<string, CandidateTiming | { ms: number }>;
}

/** Thrown by a LaunchTimer whose device is no longer the engine's working one (lost, destroyed, replaced). */
export class StaleTimerError extends Error {
  constructor() {
    super('the device this timer was made on is no longer usable');
    this.name = 'StaleTimerError';
  }
}

/**
 * Times kernel launches on the device. What it makes (throwaway operands, uniforms, timestamp and
 * readback buffers) lives in a registry of its own, destroyed by `dispose`: tuning in the
 * background never shows in the engine's buffer counts, and never frees what it did not make.
 *
 * A timer is bound to the device and pipeline cache the engine had when it was made. `Engine.recover()`
 * replaces both; a timer made before must never bind its buffers on the new device, so it keeps
 * the old one and, once `current()` says false, stops at its next step with a StaleTimerError.
 */
export class LaunchTimer {
  private readonly registry: BufferRegistry;
  /** The engine's device, pipelines and adapter, with this timer's registry and readback. */
  private readonly context: GpuContext;
  /** How the last `time` call timed its launches (what the autotuner records with a winner). */
  last: CandidateTiming | undefined;

  /**
   * @param engine whose device, pipelines and adapter are used (read once, here)
   * @param current whether that device may still be used; checked before each step that touches it
   */
  constructor(
    engine: GpuContext,
    private readonly current: () => boolean = () => true,
  ) {
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

  /** The device this timer times on, fixed when it was made. */
  get device(): GPUDevice {
    return this.context.device;
  }

  /** Whether the device this timer was made on is still the engine's working one. */
  get usable(): boolean {
    return this.current();
  }

  private ensureUsable(): void {
    if (!this.current()) throw new StaleTimerError();
  }

  /** Zeroed storage buffers of these sizes, owned by this timer. */
  storage(bytes: readonly number[]): GPUBuffer[] {
    this.ensureUsable();
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
    this.last = undefined;
    this.last = await this.measure(launches, buffers, runs);
    return this.last.ms;
  }

  /** As `time`, saying which clock was used and why. */
  async measure(launches: readonly TuneLaunch[], buffers: readonly GPUBuffer[], runs = 3): Promise<CandidateTiming> {
    const owned: GPUBuffer[] = [];
    try {
      const bound: Launch[] = [];
      for (const { spec, buffers: indices } of launches) {
        this.ensureUsable();
        bound.push(await makeLaunch(this.context, spec, indices.map((i) => buffers[i]), owned));
      }
      this.ensureUsable();
      const record = (pass: GPUComputePassEncoder, repeats = 1) => {
        for (let r = 0; r < repeats; r++) for (const launch of bound) encodeLaunch(pass, launch);
        pass.end();
      };
      let quantumMs: number | undefined;
      if (TimestampProfiler.supported(this.context)) {
        const samples = await this.timestampSamples(record, runs);
        this.ensureUsable();
        const method = timingMethod(samples);
        if (method.kind === 'timestamps') return { ms: method.ms, timer: 'timestamps' };
        quantumMs = method.quantumMs;
      }
      const { ms, repeats } = await this.wallClock(record, runs);
      const reason = quantumMs === undefined ? 'no-timestamps' : 'coarse-timestamps';
      return { ms, timer: 'wall-clock', reason, ...(quantumMs === undefined ? {} : { quantumMs }), repeats };
    } finally {
      for (const u of owned) this.registry.destroy(u);
    }
  }

  /** GPU times of `runs` passes after one untimed warm-up, all in one submit. */
  private async timestampSamples(record: (pass: GPUComputePassEncoder) => void, runs: number): Promise<number[]> {
    this.ensureUsable();
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
  private async wallClock(record: (pass: GPUComputePassEncoder, repeats: number) => void, runs: number): Promise<{ ms: number; repeats: number }> {
    const { device } = this.context;
    const submit = async (repeats: number) => {
      this.ensureUsable();
      const encoder = device.createCommandEncoder();
      record(encoder.beginComputePass(), repeats);
      const start = performance.now();
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
      // A lost device finishes every submit at once: such a time ranks nothing.
      this.ensureUsable();
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
    return { ms: median(times), repeats };
  }

  dispose(): void {
    this.registry.destroyAll();
  }
}
