import './dispose.js';
import { Autotuner, defaultTuneStore, type TuneStore } from './autotune.js';
import { BufferRegistry, type BufferBinding } from './buffers.js';
import { DeviceLostError, DisposedError, KernelError, ShapeError, WebGPUDLError } from './errors.js';
import type { KernelProgram, KernelSpec } from './kernel_spec.js';
import { checkLaunchBuffers } from './launch.js';
import { PipelineCache } from './pipelines.js';
import { openDevice, type EngineInfo, type OpenedDevice } from './open_device.js';
import { programKey, Recorder, type RecorderStats } from './recorder.js';
import { ScopeStack, type ScopedResource } from './scope.js';

/** Options of `createEngine`. */
export interface EngineOptions {
  powerPreference?: GPUPowerPreference;
  /** Time candidate kernel configurations on this adapter and keep the fastest (default true). */
  autotune?: boolean;
  /** Where autotuning winners persist; defaults to a file in Node and IndexedDB in the browser. */
  tuneStore?: TuneStore;
  /** Receives one-line notices (e.g. that a software adapter is in use). Default: console.warn. */
  log?: (message: string) => void;
}

export type { EngineInfo } from './open_device.js';

/** Uncaptured GPU errors beyond this many are counted but not logged: one fault often causes hundreds. */
const MAX_LOGGED_GPU_ERRORS = 3;

/** Opens a WebGPU device (the browser's `navigator.gpu`, or Dawn through the `webgpu` package in Node, falling back to SwiftShader when no hardware adapter is found) and returns the engine that owns it. Throws WebGPUUnavailableError, saying how to fix it, when there is none. */
export async function createEngine(options: EngineOptions = {}): Promise<Engine> {
  const log = options.log ?? ((m: string) => console.warn(m));
  const open = () => openDevice(options.powerPreference, log);
  const { gpu, device, info } = await open();
  const store = options.tuneStore ?? (await defaultTuneStore());
  return new Engine(gpu, device, info, options.autotune ?? true, store, open, log);
}

/** What `engine.stats` reports: live buffers of user objects, and what eager work made and did. */
export interface EngineStats extends RecorderStats {
  /** Buffers owned by tensors, plans, stores and datasets (not the engine's own caches). */
  liveBuffers: number;
  liveBytes: number;
  pipelines: number;
  /** Released tensor buffers kept for reuse by later eager outputs of the same size. */
  pooledBuffers: number;
  /** Bytes of the engine's own buffers: eager uniforms and scratch, pooled tensor buffers. */
  cachedBytes: number;
}

/**
 * Owns one GPUDevice and everything made on it. Eager work is recorded into one pending command
 * encoder (one compute pass) and submitted when a result is read, at `flush()`/`sync()`, or after a
 * bounded number of dispatches, so chains of eager ops cost one submit. `using engine = await
 * createEngine()` closes it at the end of the block.
 */
export class Engine implements Disposable, AsyncDisposable {
  /** Replaced, like `device`, `info` and `pipelines`, only by `recover()`. */
  buffers: BufferRegistry;
  pipelines: PipelineCache;
  readonly tuner: Autotuner;
  private gpu: GPU | undefined;
  /** Records eager work; replaced with the device by `recover()`. */
  private recorder: Recorder;
  private readonly scopes = new ScopeStack();
  private lostError: DeviceLostError | undefined;
  private destroyed = false;
  private recoveries = 0;
  /** The first GPU error no error scope caught, until a flush reports it. */
  private uncaptured: KernelError | undefined;
  private uncapturedCount = 0;

  constructor(
    gpu: GPU,
    public device: GPUDevice,
    public info: EngineInfo,
    autotune: boolean,
    store: TuneStore,
    /** Opens a device as createEngine did (same adapter request, features and limits), for `recover`. */
    private readonly reopen?: () => Promise<OpenedDevice>,
    /** Where GPU errors that no error scope caught are reported (never stdout). */
    private readonly log: (message: string) => void = (m) => console.warn(m),
  ) {
    this.gpu = gpu;
    this.buffers = new BufferRegistry(device);
    this.pipelines = new PipelineCache(device);
    this.recorder = new Recorder(device, this.pipelines, this.buffers);
    this.tuner = new Autotuner(this, autotune, store, { log });
    this.watch(device);
  }

  private watch(device: GPUDevice): void {
    device.lost.then((lost) => {
      // A device replaced by recover() may report its loss late; only the current one counts.
      if (!this.destroyed && device === this.device) this.lostError = new DeviceLostError(lost.reason, lost.message);
    });
    device.addEventListener('uncapturederror', (event) => {
      // Unhandled, Dawn in Node prints the error on stdout (breaking --json) and a browser on the
      // console; the engine reports it instead: the first few lines to the log, the first error
      // thrown by the next flush.
      event.preventDefault();
      if (this.destroyed || device !== this.device) return;
      const message = (event as GPUUncapturedErrorEvent).error.message.split('\n')[0];
      this.uncapturedCount++;
      this.uncaptured ??= new KernelError('device', `the GPU reported an error outside any error scope: ${message}`);
      if (this.uncapturedCount <= MAX_LOGGED_GPU_ERRORS) this.log(`webgpu-dl: GPU error: ${message}`);
      else if (this.uncapturedCount === MAX_LOGGED_GPU_ERRORS + 1) this.log('webgpu-dl: further GPU errors are not shown');
    });
  }

  /** How many GPU errors no error scope caught (each reported to the log, the first thrown by a flush). */
  get uncapturedErrors(): number {
    return this.uncapturedCount;
  }

  /** The error the device was lost with, once it was (undefined while the device works). */
  get lost(): DeviceLostError | undefined {
    return this.lostError;
  }

  /** How many times `recover()` replaced a lost device. */
  get recovered(): number {
    return this.recoveries;
  }

  /**
   * After the device was lost, opens a new one in this same engine. Recovering in place, rather
   * than making a new engine, keeps every holder of the engine (trainers, parameter stores, the
   * caller's own variable) pointing at a working one: only the GPU objects they made must be
   * rebuilt. Buffers, pipelines and unsubmitted eager work of the lost device are dropped. The
   * autotuner and its store are kept, so the kernel configurations chosen before the loss are
   * chosen again (the adapter key is the same unless the machine's adapter changed).
   */
  async recover(): Promise<void> {
    if (this.destroyed) throw new DisposedError('this engine was destroyed; create a new one with createEngine()');
    if (!this.lostError) throw new WebGPUDLError("recover() replaces a lost device, and this engine's device still works");
    if (!this.reopen) throw new DeviceLostError(this.lostError.reason, 'this engine was not made by createEngine(), so it cannot open a new device');
    // The background round belongs to the lost device: it ends (bounded wait) before a new device
    // opens, keeping its jobs for a compile on the new device to take up.
    await this.tuner.interrupt();
    const { gpu, device, info } = await this.reopen();
    // Lost-device buffers hold no GPU memory any more, but their objects do hold some on the CPU.
    this.buffers.destroyAll();
    this.recorder.cache.destroyAll();
    // Eager work still queued for the lost device is dropped with it, and no flush will ask why.
    this.recorder.abandon();
    this.gpu = gpu;
    this.device = device;
    this.info = info;
    this.buffers = new BufferRegistry(device);
    this.pipelines = new PipelineCache(device);
    this.recorder = new Recorder(device, this.pipelines, this.buffers);
    this.lostError = undefined;
    this.uncaptured = undefined;
    this.recoveries++;
    this.watch(device);
  }

  /** Throws if the engine cannot be used (destroyed or device lost). */
  check(): void {
    if (this.lostError) throw this.lostError;
    if (this.destroyed) throw new DisposedError('this engine was destroyed; create a new one with createEngine()');
  }

  /**
   * A storage buffer owned by the caller, who must release it with `buffers.destroy`. A size past
   * the device's limits is a ShapeError naming the buffer here, rather than an invalid buffer
   * whose validation errors surface later in the launches that use it.
   */
  createStorage(bytes: number, label: string): GPUBuffer {
    this.check();
    const { maxBufferSize, maxStorageBufferBindingSize } = this.device.limits;
    const limit = Math.min(maxBufferSize, maxStorageBufferBindingSize);
    if (bytes > limit) {
      const name = maxBufferSize <= maxStorageBufferBindingSize ? 'maxBufferSize' : 'maxStorageBufferBindingSize';
      throw new ShapeError(`buffer '${label}' of ${bytes} bytes exceeds this device's ${name} of ${limit} bytes; use a smaller batch or smaller layers`);
    }
    return this.buffers.create(
      bytes,
      GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      label,
    );
  }

  /**
   * A storage buffer for an eager output: a released tensor buffer of the same size when one is
   * pooled (so repeated shapes reuse buffers and bind groups), else a new one. Its contents are
   * undefined; `forWrite` asks for one that `upload` can fill without a submit.
   */
  createOutput(bytes: number, label: string, forWrite = false): GPUBuffer {
    this.check();
    return this.recorder.reuse(bytes, forWrite) ?? this.createStorage(bytes, label);
  }

  /**
   * Storage buffers for the outputs of eager program `key`, preferring those its last call wrote
   * once they are released (see `createOutput`), so repeated calls bind repeated buffers.
   */
  createOutputs(key: string, bytes: readonly number[], label: string): GPUBuffer[] {
    this.check();
    return this.recorder.outputs(key, bytes, (b) => this.createStorage(b, label));
  }

  /** Writes `data` into `buffer` after the recorded work that uses the buffer. */
  upload(buffer: GPUBuffer, data: ArrayBufferView, offsetBytes = 0): void {
    this.check();
    this.recorder.write(buffer, offsetBytes, data);
  }

  /** Destroys a buffer now, or after the next submit if unsubmitted eager work may use it. */
  release(buffer: GPUBuffer): void {
    if (this.destroyed) return;
    this.recorder.release(buffer, this.buffers);
  }

  /** Takes back an eager tensor's buffer for reuse (see `createOutput`); `trim()` frees the pool. */
  recycle(buffer: GPUBuffer): void {
    if (this.destroyed) return;
    this.recorder.recycle(buffer);
  }

  /** Frees the pooled tensor buffers. */
  trim(): void {
    this.recorder.trim();
  }

  /**
   * Records program `key` over `io` (inputs then outputs) in call order. `build` runs the first
   * time a key is seen (equal keys must mean equal programs); from then on recording is
   * synchronous and reuses the program's pipelines, uniform buffers and, where the buffers
   * repeat, bind groups.
   */
  record(key: string, build: () => KernelProgram | Promise<KernelProgram>, io: readonly BufferBinding[]): void {
    this.check();
    this.recorder.record(key, build, io);
  }

  /** Records a kernel launch; any error surfaces at the next `flush()` or read. */
  dispatch(spec: KernelSpec, buffers: readonly BufferBinding[]): void {
    this.check();
    checkLaunchBuffers(spec, buffers);
    const program: KernelProgram = { name: spec.name, scratch: [], launches: [{ spec, args: buffers.map((_, io) => ({ io })) }] };
    this.recorder.record(programKey(program), () => program, buffers);
  }

  /** Records every launch of a program; `buffers` are the op's inputs then outputs. */
  dispatchProgram(program: KernelProgram, buffers: readonly BufferBinding[]): void {
    this.check();
    this.recorder.record(programKey(program), () => program, buffers);
  }

  /** Records a buffer-to-buffer copy in launch order. */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.check();
    this.recorder.copy(src, srcOffset, dst, dstOffset, bytes);
  }

  /** Submits everything recorded so far. Rejects with the first error any recorded launch met. */
  async flush(): Promise<void> {
    this.check();
    const recorder = this.recorder;
    try {
      await recorder.flush();
    } finally {
      const uncaptured = this.uncaptured;
      this.uncaptured = undefined;
      if (uncaptured && recorder === this.recorder) throw uncaptured;
    }
  }

  /** Copies `bytes` of `buffer` to the CPU after all recorded work. */
  async readBytes(buffer: GPUBuffer, bytes: number, offsetBytes = 0): Promise<ArrayBuffer> {
    this.check();
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    const staging = this.buffers.create(size, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'readback');
    try {
      // Copied in the same command buffer as the work before it: one submit per read.
      this.recorder.copy(buffer, offsetBytes, staging, 0, size);
      await this.flush();
      await staging.mapAsync(GPUMapMode.READ);
      this.check();
      return staging.getMappedRange().slice(0, bytes);
    } finally {
      this.buffers.destroy(staging);
    }
  }

  /** Waits until the GPU has finished everything submitted. */
  async sync(): Promise<void> {
    await this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.check();
  }

  /** Counters since the device opened (a recovered device starts again from zero). */
  get stats(): EngineStats {
    return {
      liveBuffers: this.buffers.liveBuffers,
      liveBytes: this.buffers.liveBytes,
      pipelines: this.pipelines.size,
      pooledBuffers: this.recorder.pooled,
      cachedBytes: this.recorder.cache.liveBytes,
      ...this.recorder.stats,
    };
  }

  /**
   * Runs `fn` and then disposes every tensor (or other resource) made while it ran, except those it
   * returns (also inside arrays and plain objects), like tf.tidy; `fn` may be async, and the scope
   * lasts until its promise settles. Scopes nest; what an inner scope returns belongs to the outer.
   */
  scope<T>(fn: () => T): T {
    return this.scopes.run(fn);
  }

  /** Puts `resource` in the innermost open scope, which disposes it unless it is returned. */
  track(resource: ScopedResource): void {
    this.scopes.track(resource);
  }

  /**
   * Frees every buffer and the device, and stops the background tuner. In Node this also drops the
   * reference that keeps the process alive, so a script ends when its work does. While a background
   * timing is in progress the device itself goes when that ends (see Autotuner.stop, at most
   * STOP_WAIT_MS later): Dawn may crash the process when a device is destroyed under a pending
   * map or wait for submitted work.
   */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.recorder.abandon();
    this.buffers.destroyAll();
    this.recorder.cache.destroyAll();
    const device = this.device;
    if (this.tuner.busy) {
      // stop() never rejects.
      void this.tuner.stop().then(() => device.destroy());
    } else {
      void this.tuner.stop();
      device.destroy();
    }
    this.gpu = undefined;
  }

  /**
   * Waits for submitted GPU work to finish, then destroys everything (the device once the background
   * tuner's round has ended) and waits until the device reports itself gone. Prefer this over
   * `destroy()` before a process exits: Dawn's worker threads may still be tearing the device down
   * when `destroy()` returns, and exiting during that can crash the process.
   */
  async close(): Promise<void> {
    const device = this.device;
    if (!this.destroyed) {
      if (!this.lostError) await device.queue.onSubmittedWorkDone();
      this.destroy();
    }
    await device.lost;
  }

  /** Destroys the device at the end of a `using` block, without waiting for the GPU. */
  [Symbol.dispose](): void {
    this.destroy();
  }

  /** Closes the engine at the end of an `await using` block, waiting for the GPU first. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** The WebGPU entry point, while the engine lives. */
  get navigatorGpu(): GPU | undefined {
    return this.gpu;
  }
}
