import type { BufferRegistry } from './buffers.js';
import type { EngineInfo } from './open_device.js';
import type { PipelineCache } from './pipelines.js';

/**
 * What the engine's parts (autotuner, profiler, launches) use of it. They take this rather than
 * `Engine`, so that engine.ts can build them without a circle of imports; an `Engine` is one. Its
 * fields are read at each use, since `Engine.recover()` replaces them with a new device's.
 */
export interface GpuContext {
  readonly device: GPUDevice;
  readonly info: EngineInfo;
  readonly pipelines: PipelineCache;
  readonly buffers: BufferRegistry;
  /** Copies `bytes` of `buffer` to the CPU after all recorded work. */
  readBytes(buffer: GPUBuffer, bytes: number, offsetBytes?: number): Promise<ArrayBuffer>;
}

/** What making a launch needs: the device, its pipelines, and the registry that owns new buffers. */
export type LaunchContext = Pick<GpuContext, 'device' | 'pipelines' | 'buffers'>;
