import type { BufferRange } from '../gpu/buffers.js';
import type { Engine } from '../gpu/engine.js';
import { DisposedError, ShapeError } from '../gpu/errors.js';
import { describeBytes, storageLimit } from '../graph/check_limits.js';
import { StandaloneLaunch } from '../graph/standalone_launch.js';
import { gatherWindowsKernel, gatherWindowsUniforms } from '../kernels/gather_windows.js';
import type { TextCorpus } from './text.js';

/**
 * A text's tokens resident on the GPU (u32, uploaded once), from which batches of windows are
 * gathered by one kernel recorded into a step's command buffer: no text crosses the bus while
 * training, only the batch's window starts (a few words).
 */
export class GpuText implements Disposable {
  private tokens: GPUBuffer | undefined;
  private readonly gathers = new Set<WindowGather>();

  constructor(
    private readonly engine: Engine,
    readonly corpus: TextCorpus,
  ) {
    const limit = storageLimit(engine);
    if (corpus.tokens.byteLength > limit.bytes) {
      throw new ShapeError(`text: ${corpus.tokens.length} characters take ${describeBytes(corpus.tokens.byteLength)} on the GPU, over this device's ${limit.name} of ${describeBytes(limit.bytes)}; use at most ${Math.floor(limit.bytes / 4)} characters`);
    }
    this.tokens = engine.createStorage(Math.max(4, corpus.tokens.byteLength), 'text tokens');
    engine.upload(this.tokens, corpus.tokens);
  }

  /**
   * A gatherer of `batch` windows of the corpus' context into `x` and `y` (u32 [batch, context]
   * each, inputs and targets). `starts` fixes the windows (e.g. evenly spaced validation windows,
   * gathered `batch` at a time from any offset); a number instead makes room for that many starts,
   * set before each gather with `setStarts` (random training windows).
   */
  async gather(x: BufferRange, y: BufferRange, batch: number, starts: Uint32Array | number): Promise<WindowGather> {
    if (!this.tokens) throw new DisposedError('GpuText was used after dispose()');
    const { context, tokens } = this.corpus;
    const n = typeof starts === 'number' ? starts : starts.length;
    if (!Number.isInteger(batch) || batch < 1 || n < batch) throw new ShapeError(`text windows: batch ${batch} must be a positive integer no larger than the ${n} starts`);
    for (const [what, r] of [['inputs', x], ['targets', y]] as const) {
      if (r.size < batch * context * 4) throw new ShapeError(`text windows: the ${what} hold ${r.size / 4} values; ${batch} windows of ${context} need ${batch * context}`);
    }
    if (typeof starts !== 'number') {
      const bad = starts.findIndex((s) => s + context >= tokens.length);
      if (bad >= 0) throw new ShapeError(`text windows: start ${starts[bad]} leaves no ${context + 1} tokens before the end (${tokens.length})`);
    }
    const startsBuffer = this.engine.createStorage(n * 4, 'window starts');
    if (typeof starts !== 'number') this.engine.upload(startsBuffer, starts);
    try {
      const launch = await StandaloneLaunch.create(this.engine, gatherWindowsKernel({ batch, context, first: 0 }), [
        this.tokens,
        startsBuffer,
        { ...x, size: batch * context * 4 },
        { ...y, size: batch * context * 4 },
      ]);
      const g = new WindowGather(this.engine, launch, startsBuffer, { batch, context, starts: n, end: tokens.length }, (w) => this.gathers.delete(w));
      this.gathers.add(g);
      return g;
    } catch (e) {
      this.engine.buffers.destroy(startsBuffer);
      throw e;
    }
  }

  /** Frees the tokens and every gatherer made from them. */
  dispose(): void {
    for (const g of [...this.gathers]) g.dispose();
    if (this.tokens) this.engine.buffers.destroy(this.tokens);
    this.tokens = undefined;
  }

  /** Disposes the text at the end of a `using` block. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** Records the gather of one batch of windows (see `GpuText.gather`). */
export class WindowGather {
  private disposed = false;

  constructor(
    private readonly engine: Engine,
    private readonly launch: StandaloneLaunch,
    private readonly startsBuffer: GPUBuffer,
    private readonly shape: { batch: number; context: number; starts: number; end: number },
    private readonly onDispose: (g: WindowGather) => void,
  ) {}

  /** Replaces the window starts from the next submit on; each must leave context + 1 tokens before the end. */
  setStarts(starts: Uint32Array): void {
    this.check();
    if (starts.length !== this.shape.starts) throw new ShapeError(`text windows: ${starts.length} starts given for room of ${this.shape.starts}`);
    const { context, end } = this.shape;
    const bad = starts.findIndex((s) => !(s + context < end));
    if (bad >= 0) throw new ShapeError(`text windows: start ${starts[bad]} leaves no ${context + 1} tokens before the end (${end})`);
    // Queue order puts this write before the submit that carries the gather.
    this.engine.device.queue.writeBuffer(this.startsBuffer, 0, starts.buffer, starts.byteOffset, starts.byteLength);
  }

  /** Records the gather of windows starts[first …first + batch) into `encoder`, in a pass of its own. */
  encode(encoder: GPUCommandEncoder, first = 0): void {
    this.check();
    const { batch, context, starts } = this.shape;
    if (!Number.isInteger(first) || first < 0 || first + batch > starts) throw new ShapeError(`text windows: first ${first} + batch ${batch} exceeds the ${starts} starts`);
    this.launch.encode(encoder, gatherWindowsUniforms({ batch, context, first }));
  }

  /** Frees the gather's starts, uniforms and bind group. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.launch.dispose();
    this.engine.buffers.destroy(this.startsBuffer);
    this.onDispose(this);
  }

  private check(): void {
    if (this.disposed) throw new DisposedError('text window gather was used after dispose()');
  }
}
