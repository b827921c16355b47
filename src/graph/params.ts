import type { Engine } from '../gpu/engine.js';
import { DisposedError, ShapeError } from '../gpu/errors.js';
import { fillKernel } from '../kernels/optimizer.js';
import { randomNormalKernel, randomUniformKernel } from '../kernels/random.js';
import type { KernelSpec } from '../kernels/kernel.js';
import type { Graph, Value } from './ir.js';
import type { BufferRange } from '../gpu/buffers.js';
import { checkParameterLimits } from './check_limits.js';

/** How a parameter starts: constants, or seeded uniform/normal draws made on the GPU. */
export type Init =
  | { kind: 'constant'; value: number }
  | { kind: 'uniform'; low: number; high: number }
  | { kind: 'normal'; mean: number; std: number };

/** A declared tensor of a store: its name, shape, size and place in the flat buffers. */
export interface ParamEntry {
  name: string;
  shape: readonly number[];
  size: number;
  /** Offset in floats inside the flat buffers. */
  offset: number;
  init: Init;
}

/** Bound sub-ranges must start on the device's storage offset alignment (256 bytes = 64 floats). */
const ALIGN_FLOATS = 64;

/**
 * The parameters of one model in flat buffers — values, gradients and any optimizer state — each
 * tensor at an aligned offset, so zeroing, clipping and updating are one dispatch over the whole
 * model. Tensors are declared first; buffers are made and initialised on first use.
 *
 * Non-trainable state (batch norm's running statistics), declared with `addBuffer`, lives in a
 * flat buffer of its own: the optimizer's single dispatch over the parameters never reaches it (so
 * weight decay cannot shrink a running variance), and kernels may bind it writable while they read
 * parameters, which WebGPU forbids within one buffer.
 */
export class ParameterStore {
  private readonly entries = new Map<string, ParamEntry>();
  private readonly bufferEntries = new Map<string, ParamEntry>();
  private floats = 0;
  private bufferFloats = 0;
  private params: GPUBuffer | undefined;
  private grads: GPUBuffer | undefined;
  private stateBuffers: GPUBuffer | undefined;
  private readonly states = new Map<string, GPUBuffer>();
  private updates = 0;
  private disposed = false;

  constructor(
    readonly engine: Engine,
    readonly options: { seed: number } = { seed: 0 },
  ) {}

  /** Declares a trainable parameter (before the first use of the store); names must be unique. */
  add(name: string, shape: readonly number[], init: Init): void {
    const size = this.checkNew('parameter', name, shape);
    this.entries.set(name, { name, shape: [...shape], size, offset: this.floats, init });
    this.floats += Math.ceil(size / ALIGN_FLOATS) * ALIGN_FLOATS;
  }

  /**
   * Declares non-trainable persistent state (PyTorch's `register_buffer`, e.g. running statistics):
   * readable, writable and checkpointed like a parameter, but never differentiated or updated by
   * the optimizer; kernels update it in place.
   */
  addBuffer(name: string, shape: readonly number[], init: Init): void {
    const size = this.checkNew('buffer', name, shape);
    this.bufferEntries.set(name, { name, shape: [...shape], size, offset: this.bufferFloats, init });
    this.bufferFloats += Math.ceil(size / ALIGN_FLOATS) * ALIGN_FLOATS;
  }

  /** True for parameters and buffers alike. */
  has(name: string): boolean {
    return this.entries.has(name) || this.bufferEntries.has(name);
  }

  /** True for non-trainable buffers (declared with `addBuffer`), false for parameters. */
  isBuffer(name: string): boolean {
    return this.bufferEntries.has(name);
  }

  /** A parameter's or a buffer's entry (offsets count in its own flat buffer). */
  entry(name: string): ParamEntry {
    const e = this.entries.get(name) ?? this.bufferEntries.get(name);
    if (!e) throw new ShapeError(`no parameter or buffer named '${name}' (known: ${[...this.entries.keys(), ...this.bufferEntries.keys()].join(', ') || 'none'})`);
    return e;
  }

  /** Trainable parameters, in declaration order. */
  get list(): ParamEntry[] {
    return [...this.entries.values()];
  }

  /** The trainable parameter whose slot of the flat buffers (padding included) holds float `index`. */
  parameterAt(index: number): ParamEntry | undefined {
    return this.list.find((e) => index >= e.offset && index < e.offset + Math.ceil(e.size / ALIGN_FLOATS) * ALIGN_FLOATS);
  }

  /** Non-trainable buffers, in declaration order. */
  get buffers(): ParamEntry[] {
    return [...this.bufferEntries.values()];
  }

  /** Parameters then buffers: everything a checkpoint holds. */
  get stateDict(): ParamEntry[] {
    return [...this.list, ...this.buffers];
  }

  /** Length of the flat buffers in floats, padding included. */
  get length(): number {
    return Math.max(this.floats, 1);
  }

  /** Number of trainable values (without padding). */
  get count(): number {
    return this.list.reduce((a, e) => a + e.size, 0);
  }

  /** The parameter as a graph value: `g.param` with this store's shape, made once per graph. */
  value(g: Graph, name: string): Value {
    const e = this.entry(name);
    return g.params.find((p) => p.name === name) ?? g.param(name, e.shape);
  }

  get paramBuffer(): GPUBuffer {
    this.allocate();
    return this.params!;
  }

  get gradBuffer(): GPUBuffer {
    this.allocate();
    return this.grads!;
  }

  /** The flat buffer holding every `addBuffer` tensor. */
  get bufferStorage(): GPUBuffer {
    this.allocate();
    return this.stateBuffers!;
  }

  /** A zeroed flat buffer of optimizer state (e.g. Adam's moments), made on first request. */
  state(key: string): GPUBuffer {
    this.allocate();
    let b = this.states.get(key);
    if (!b) {
      b = this.engine.createStorage(this.length * 4, `state ${key}`);
      this.states.set(key, b);
    }
    return b;
  }

  /**
   * Optimizer updates applied to these parameters so far (Adam's step count t). It lives with the
   * optimizer state, not with a compiled step, so a second `fit` (a new step) continues the bias
   * correction where the first stopped, as PyTorch's optimizer state does.
   */
  get optimizerSteps(): number {
    return this.updates;
  }

  /** Counts one more update and returns its number (1 for the first). */
  nextOptimizerStep(): number {
    return ++this.updates;
  }

  /** Sets the update count, when optimizer state is loaded from a checkpoint. */
  setOptimizerSteps(t: number): void {
    if (!(Number.isInteger(t) && t >= 0)) throw new ShapeError(`optimizer step count ${t} must be a non-negative integer`);
    this.updates = t;
  }

  /** The whole flat optimizer state `key`, laid out as the parameters (zeros before the first update). */
  async readState(key: string): Promise<Float32Array> {
    return new Float32Array(await this.engine.readBytes(this.state(key), this.length * 4, 0));
  }

  /** One parameter's slice of the optimizer state `key`. */
  writeState(key: string, name: string, data: Float32Array): void {
    if (this.isBuffer(name)) throw new ShapeError(`'${name}' is a buffer, not a trainable parameter; it has no optimizer state`);
    const e = this.entry(name);
    if (data.length !== e.size) throw new ShapeError(`optimizer state '${key}' of '${name}' [${e.shape.join(', ')}] takes ${e.size} values, got ${data.length}`);
    this.engine.upload(this.state(key), data, e.offset * 4);
  }

  /** Where a parameter or a buffer lives. */
  range(name: string): BufferRange {
    const e = this.entry(name);
    return { buffer: this.storageOf(name), offset: e.offset * 4, size: e.size * 4 };
  }

  /** Where parameter `name`'s gradient lies in the flat gradient buffer; buffers have none. */
  gradRange(name: string): BufferRange {
    if (this.isBuffer(name)) throw new ShapeError(`'${name}' is a buffer, not a trainable parameter; it has no gradient`);
    const e = this.entry(name);
    return { buffer: this.gradBuffer, offset: e.offset * 4, size: e.size * 4 };
  }

  /** Copies tensor `name`'s values back from the GPU. */
  async read(name: string): Promise<Float32Array> {
    const e = this.entry(name);
    return new Float32Array(await this.engine.readBytes(this.storageOf(name), e.size * 4, e.offset * 4));
  }

  /** Uploads new values for tensor `name`; the length must match its size. */
  write(name: string, data: Float32Array): void {
    const e = this.entry(name);
    if (data.length !== e.size) throw new ShapeError(`${this.isBuffer(name) ? 'buffer' : 'parameter'} '${name}' [${e.shape.join(', ')}] takes ${e.size} values, got ${data.length}`);
    this.engine.upload(this.storageOf(name), data, e.offset * 4);
  }

  /** Resets every parameter to a fresh draw of its initialiser (and drops optimizer state). */
  reinitialise(seed = this.options.seed): void {
    this.allocate();
    const encoder = this.engine.device.createCommandEncoder({ label: 'init' });
    encoder.clearBuffer(this.params!);
    encoder.clearBuffer(this.grads!);
    encoder.clearBuffer(this.stateBuffers!);
    for (const b of this.states.values()) encoder.clearBuffer(b);
    this.updates = 0;
    this.engine.device.queue.submit([encoder.finish()]);
    this.list.forEach((e, i) => {
      // Each tensor draws from its own seed so that adding a layer does not change the others.
      const spec = initKernel(e, seed * 1000 + i);
      if (spec) this.engine.dispatch(spec, [{ buffer: this.params!, offset: e.offset * 4, size: e.size * 4 }]);
    });
    this.buffers.forEach((e, i) => {
      // Seeds past any parameter's, so declaring buffers leaves the parameters' draws unchanged.
      const spec = initKernel(e, seed * 1000 + 500 + i);
      if (spec) this.engine.dispatch(spec, [{ buffer: this.stateBuffers!, offset: e.offset * 4, size: e.size * 4 }]);
    });
  }

  /**
   * Forgets the buffers after the device that held them was lost (see `Engine.recover`), keeping
   * the declared tensors: the next use allocates fresh ones on the engine's new device, initialised
   * as at first, ready for a snapshot to be loaded over them.
   */
  reallocate(): void {
    if (this.disposed) throw new DisposedError('parameter store was used after dispose()');
    this.params = this.grads = this.stateBuffers = undefined;
    this.states.clear();
  }

  get bytes(): number {
    return this.params ? (2 + this.states.size) * this.length * 4 + this.stateBuffers!.size : 0;
  }

  /** Frees the store's buffers (after any eager work still using them is submitted); later use is a DisposedError. */
  dispose(): void {
    // Released, not destroyed: eager launches still unsubmitted (initialisation, uploads) may use
    // them, and the engine frees them after the submit that covers those launches.
    for (const b of [this.params, this.grads, this.stateBuffers, ...this.states.values()]) if (b) this.engine.release(b);
    this.params = this.grads = this.stateBuffers = undefined;
    this.states.clear();
    this.disposed = true;
  }

  private checkNew(what: string, name: string, shape: readonly number[]): number {
    if (this.params) throw new ShapeError(`${what} '${name}': the model's parameters were already allocated; declare every layer before the first step`);
    if (this.has(name)) throw new ShapeError(`${what} '${name}' is declared twice; layer names must be unique`);
    if (!shape.every((d) => Number.isInteger(d) && d >= 1)) throw new ShapeError(`${what} '${name}': shape [${shape.join(', ')}] must be positive integers`);
    return shape.reduce((a, b) => a * b, 1);
  }

  private storageOf(name: string): GPUBuffer {
    return this.isBuffer(name) ? this.bufferStorage : this.paramBuffer;
  }

  private allocate(): void {
    if (this.disposed) throw new DisposedError('parameter store was used after dispose()');
    if (this.params) return;
    checkParameterLimits(this);
    this.params = this.engine.createStorage(this.length * 4, 'parameters');
    this.grads = this.engine.createStorage(this.length * 4, 'gradients');
    this.stateBuffers = this.engine.createStorage(Math.max(this.bufferFloats, 1) * 4, 'buffers');
    this.reinitialise();
  }
}

function initKernel(e: ParamEntry, seed: number): KernelSpec | undefined {
  switch (e.init.kind) {
    case 'constant':
      return e.init.value === 0 ? undefined : fillKernel(e.size, e.init.value);
    case 'uniform':
      return randomUniformKernel(e.size, e.init.low, e.init.high, seed);
    case 'normal':
      return randomNormalKernel(e.size, e.init.mean, e.init.std, seed);
  }
}
