import { Autotuner, defaultTuneStore, type TuneStore } from './autotune.js';
import { BufferRegistry, type BufferBinding } from './buffers.js';
import { DeviceLostError, DisposedError, KernelError, ShapeError, WebGPUDLError } from './errors.js';
import type { KernelProgram, KernelSpec } from './kernel_spec.js';
import { checkLaunchBuffers, encodeLaunch, makeLaunch, type Launch } from './launch.js';
import { PipelineCache } from './pipelines.js';
import { openDevice, type EngineInfo, type OpenedDevice } from './open_device.js';

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

export async function createEngine(options: EngineOptions = {}): Promise<Engine> {
  const log = options.log ?? ((m: string) => console.warn(m));
  const open = () => openDevice(options.powerPreference, log);
  const { gpu, device, info } = await open();
  const store = options.tuneStore ?? (await defaultTuneStore());
  return new Engine(gpu, device, info, options.autotune ?? true, store, open, log);
}

/**
 * Owns one GPUDevice and everything made on it. Eager work is recorded into one pending command
 * encoder and submitted when a result is read (or `flush()` is called), so chains of eager ops cost
 * one submit.
 */
export class Engine {
  /** Replaced, like `device`, `info` and `pipelines`, only by `recover()`. */
  buffers: BufferRegistry;
  pipelines: PipelineCache;
  readonly tuner: Autotuner;
  private gpu: GPU | undefined;
  private encoder: GPUCommandEncoder | undefined;
  /** Uniform buffers of recorded but not yet submitted dispatches; destroyed after submit. */
  private transient: GPUBuffer[] = [];
  private work: Promise<void> = Promise.resolve();
  /** Flushes in progress, chained so that concurrent reads submit in recording order. */
  private flushing: Promise<void> = Promise.resolve();
  /** Eager launches recorded since the last submit (counted synchronously, unlike `work`). */
  private pending = 0;
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
    this.tuner = new Autotuner(this, autotune, store);
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
    const { gpu, device, info } = await this.reopen();
    // Lost-device buffers hold no GPU memory any more, but their objects do hold some on the CPU.
    this.buffers.destroyAll();
    this.gpu = gpu;
    this.device = device;
    this.info = info;
    this.buffers = new BufferRegistry(device);
    this.pipelines = new PipelineCache(device);
    this.encoder = undefined;
    this.transient = [];
    // Eager work still chained for the lost device fails with it, and no flush will ask why.
    void this.work.catch(() => {});
    this.work = Promise.resolve();
    this.flushing = Promise.resolve();
    this.pending = 0;
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
   * Writes `data` into `buffer`. With eager launches still unsubmitted, the write waits for them
   * (writeBuffer would otherwise land before launches recorded earlier).
   */
  upload(buffer: GPUBuffer, data: ArrayBufferView, offsetBytes = 0): void {
    this.check();
    if (this.pending === 0) {
      this.device.queue.writeBuffer(buffer, offsetBytes, data.buffer, data.byteOffset, data.byteLength);
      return;
    }
    const copy = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    const device = this.device;
    this.work = this.work.then(() => {
      if (device !== this.device) return; // for a device recover() has since replaced
      this.submitPending();
      this.device.queue.writeBuffer(buffer, offsetBytes, copy);
    });
  }

  /** Destroys a buffer now, or after the next submit if unsubmitted eager work may use it. */
  release(buffer: GPUBuffer): void {
    if (this.pending > 0 && !this.destroyed) {
      // Queued behind the launches recorded so far, so it is freed by the submit that covers them.
      const device = this.device;
      this.work = this.work.then(() => {
        if (device === this.device) this.transient.push(buffer);
      });
    } else {
      this.buffers.destroy(buffer);
    }
  }

  /**
   * Records a kernel launch. Pipeline compilation is asynchronous, so launches are chained; their
   * order is kept, and any error surfaces at the next `flush()` or read.
   */
  dispatch(spec: KernelSpec, buffers: readonly BufferBinding[]): void {
    this.check();
    checkLaunchBuffers(spec, buffers);
    this.pending++;
    // The device's objects as they are now: the launch belongs to this device even if recover()
    // replaces it while the pipeline compiles.
    const context = { device: this.device, pipelines: this.pipelines, buffers: this.buffers };
    this.work = this.work.then(async () => {
      const made: GPUBuffer[] = [];
      let launch: Launch | undefined;
      try {
        launch = await makeLaunch(context, spec, buffers, made);
      } catch (error) {
        if (context.device === this.device) throw error;
      }
      // Recorded for a device that recover() has since replaced: nothing of it belongs on the new
      // one, and recover() already destroyed the old device's buffers.
      if (!launch || context.device !== this.device) return;
      const pass = this.pendingEncoder().beginComputePass({ label: spec.name });
      encodeLaunch(pass, launch);
      pass.end();
      this.transient.push(...made);
    });
  }

  /**
   * Records every launch of a program; `buffers` are the op's inputs then outputs. Scratch buffers
   * are made here and destroyed after the next submit.
   */
  dispatchProgram(program: KernelProgram, buffers: readonly BufferBinding[]): void {
    this.check();
    const scratch = program.scratch.map((bytes, i) => this.createStorage(bytes, `${program.name}.scratch${i}`));
    for (const { spec, args } of program.launches) {
      this.dispatch(
        spec,
        args.map((a) => ('io' in a ? buffers[a.io] : scratch[a.scratch])),
      );
    }
    for (const b of scratch) this.release(b);
  }

  /** Records a buffer-to-buffer copy in launch order. */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.check();
    this.pending++;
    const device = this.device;
    this.work = this.work.then(() => {
      if (device === this.device) this.pendingEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
    });
  }

  /** Submits everything recorded so far. Rejects with the first error any recorded launch met. */
  async flush(): Promise<void> {
    this.check();
    const work = this.work;
    this.work = Promise.resolve();
    const recorded = this.pending;
    const run = this.flushing.then(async () => {
      try {
        await work;
      } finally {
        this.pending -= recorded;
        // Push, submit and pop without an await between them, so no other scope interleaves.
        this.device.pushErrorScope('validation');
        this.submitPending();
        const error = await this.device.popErrorScope();
        if (error) throw new KernelError('eager launch', error.message);
        const uncaptured = this.uncaptured;
        this.uncaptured = undefined;
        if (uncaptured) throw uncaptured;
      }
    });
    this.flushing = run.catch(() => {});
    await run;
  }

  private submitPending(): void {
    const encoder = this.encoder;
    this.encoder = undefined;
    if (encoder && !this.destroyed) this.device.queue.submit([encoder.finish()]);
    const transient = this.transient;
    this.transient = [];
    for (const b of transient) this.buffers.destroy(b);
  }

  /** Copies `bytes` of `buffer` to the CPU after all recorded work. */
  async readBytes(buffer: GPUBuffer, bytes: number, offsetBytes = 0): Promise<ArrayBuffer> {
    await this.flush();
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    const staging = this.buffers.create(size, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'readback');
    try {
      const encoder = this.device.createCommandEncoder();
      encoder.copyBufferToBuffer(buffer, offsetBytes, staging, 0, size);
      this.device.queue.submit([encoder.finish()]);
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

  get stats(): { liveBuffers: number; liveBytes: number; pipelines: number } {
    return { liveBuffers: this.buffers.liveBuffers, liveBytes: this.buffers.liveBytes, pipelines: this.pipelines.size };
  }

  /**
   * Frees every buffer and the device. In Node this also drops the reference that keeps the
   * process alive, so a script ends when its work does.
   */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.encoder = undefined;
    this.buffers.destroyAll();
    this.device.destroy();
    this.gpu = undefined;
  }

  /**
   * Waits for submitted GPU work to finish, then destroys everything and waits until the device
   * reports itself gone. Prefer this over `destroy()` before a process exits: Dawn's worker
   * threads may still be tearing the device down when `destroy()` returns, and exiting during
   * that can crash the process.
   */
  async close(): Promise<void> {
    if (this.destroyed) return;
    const device = this.device;
    if (!this.lostError) await device.queue.onSubmittedWorkDone();
    this.destroy();
    await device.lost;
  }

  /** The WebGPU entry point, while the engine lives. */
  get navigatorGpu(): GPU | undefined {
    return this.gpu;
  }

  private pendingEncoder(): GPUCommandEncoder {
    this.encoder ??= this.device.createCommandEncoder({ label: 'eager' });
    return this.encoder;
  }
}
