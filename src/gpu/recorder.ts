import { BufferPool } from './buffer_pool.js';
import { bindingResource, BufferRegistry, type BufferBinding } from './buffers.js';
import { KernelError } from './errors.js';
import { pipelineKey, storageBindingCount, type ArgRef, type KernelProgram } from './kernel_spec.js';
import type { CompiledKernel, PipelineCache } from './pipelines.js';

/** What the recorder has made and done since the engine opened its device; tests assert on these. */
export interface RecorderStats {
  /** Command buffers submitted for eager work (reads included). */
  submits: number;
  /** Compute passes opened: one per submit unless a copy splits it. */
  passes: number;
  /** Dispatches recorded. */
  launches: number;
  bindGroups: number;
  uniformBuffers: number;
  /** Programs prepared (pipelines resolved, uniforms and scratch made), one per distinct op key. */
  programs: number;
}

/** One launch of a prepared program: everything but the bind group, which depends on the buffers. */
interface PreparedLaunch {
  name: string;
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  bindings: readonly string[];
  workgroups: [number, number, number];
  uniform?: GPUBuffer;
  args: readonly ArgRef[];
  /** Bind groups by the io buffers they bind; scratch and uniforms are fixed per program. */
  bindGroups: Map<string, GPUBindGroup>;
}

interface PreparedProgram {
  name: string;
  io: number;
  launches: PreparedLaunch[];
  scratch: GPUBuffer[];
}

/** Submit after this many dispatches even if nothing is read, so a long eager loop keeps the GPU busy. */
const MAX_BATCH = 1024;
/** Distinct programs kept; beyond this the oldest is dropped (its buffers freed after the next submit). */
const MAX_PROGRAMS = 1024;
/** Bind groups kept per launch; eager tensors come and go, so old buffer combinations are dropped. */
const MAX_BIND_GROUPS = 64;

/** A cache key for a program built elsewhere: what decides its pipelines, uniforms and dispatch. */
export function programKey(program: KernelProgram): string {
  const launches = program.launches.map(({ spec, args }) => {
    const uniforms = spec.uniforms ? Array.from(new Uint32Array(spec.uniforms), (w) => w.toString(36)).join('.') : '';
    return `${pipelineKey(spec)}#${uniforms}#${spec.workgroups.join('x')}#${args.map((a) => ('io' in a ? `i${a.io}` : `s${a.scratch}`)).join(',')}`;
  });
  return `program:${program.scratch.join(',')}|${launches.join('||')}`;
}

let nextBufferId = 1;
const bufferIds = new WeakMap<GPUBuffer, number>();
function bufferId(b: GPUBuffer): number {
  let id = bufferIds.get(b);
  if (id === undefined) bufferIds.set(b, (id = nextBufferId++));
  return id;
}
const bufferOf = (b: BufferBinding): GPUBuffer => ('buffer' in b ? b.buffer : b);
const bindingKey = (b: BufferBinding): string => ('buffer' in b ? `${bufferId(b.buffer)}@${b.offset}+${b.size}` : `${bufferId(b)}`);

/**
 * Records eager work into one command encoder and one compute pass, submitted on read, flush, or
 * every MAX_BATCH dispatches. Each distinct program (one op on given shapes and attributes) is
 * prepared once: pipelines, a uniform buffer per launch written once, scratch buffers; bind groups
 * are cached by the buffers they bind. A program seen for the first time is prepared
 * asynchronously (pipeline compilation, the op's lowering); until it is ready, later work queues
 * behind it in call order, so recording order is always call order. Once every program in use is
 * prepared, recording is synchronous: no promise per launch.
 */
export class Recorder {
  readonly stats: RecorderStats = { submits: 0, passes: 0, launches: 0, bindGroups: 0, uniformBuffers: 0, programs: 0 };
  /** Engine-owned buffers: uniforms, scratch, and released tensor buffers waiting for reuse. */
  readonly cache: BufferRegistry;
  private encoder: GPUCommandEncoder | undefined;
  private pass: GPUComputePassEncoder | undefined;
  private sinceSubmit = 0;
  /** Buffers the unsubmitted encoder uses: writing them with writeBuffer first needs a submit. */
  private readonly touched = new Set<GPUBuffer>();
  private afterSubmit: (() => void)[] = [];
  /** Uniform and scratch buffers of programs dropped from the cache. */
  private retired: GPUBuffer[] = [];
  private readonly programs = new Map<string, PreparedProgram>();
  private readonly preparing = new Map<string, Promise<PreparedProgram>>();
  private backlog: Promise<void> = Promise.resolve();
  private deferred = 0;
  private firstError: unknown;
  private readonly pool = new BufferPool();
  /** The output buffers of each program's last call (see `outputs`). */
  private readonly lastOutputs = new Map<string, GPUBuffer[]>();
  private abandoned = false;

  constructor(
    private readonly device: GPUDevice,
    private readonly pipelines: PipelineCache,
    /** The registry of buffers user objects own (tensors' buffers return to it from the pool). */
    private readonly owned: BufferRegistry,
  ) {
    this.cache = new BufferRegistry(device);
  }

  /**
   * Records program `key` over `io` (its inputs then outputs). `build` runs only the first time a
   * key is seen; equal keys must describe equal programs.
   */
  record(key: string, build: () => KernelProgram | Promise<KernelProgram>, io: readonly BufferBinding[]): void {
    let ready = this.programs.get(key);
    let pending = ready ? undefined : this.preparing.get(key);
    if (!ready && !pending) {
      // A program built synchronously whose pipelines are compiled is ready at once: a new shape
      // of a known op, an optimizer step with new uniforms. Only new pipelines (or an op whose
      // lowering asks the tuner) make later work queue.
      const built = build();
      ready = built instanceof Promise ? undefined : this.prepareNow(key, built);
      if (!ready) pending = this.prepareLater(key, built);
    }
    if (ready && this.deferred === 0) {
      this.encode(ready, io);
      return;
    }
    const prepared = ready ?? pending!;
    const held = [...io];
    this.later(async () => this.encode(await prepared, held));
  }

  /** Records a buffer-to-buffer copy in call order (it ends the open compute pass). */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    const run = () => {
      this.endPass();
      this.openEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
      this.touched.add(src).add(dst);
    };
    if (this.deferred > 0) this.later(run);
    else run();
  }

  /** Writes `data` into `buffer` after everything recorded so far that uses the buffer. */
  write(buffer: GPUBuffer, offsetBytes: number, data: ArrayBufferView): void {
    const run = (bytes: ArrayBufferView) => {
      if (this.touched.has(buffer)) this.submit();
      this.device.queue.writeBuffer(buffer, offsetBytes, bytes.buffer, bytes.byteOffset, bytes.byteLength);
    };
    if (this.deferred === 0) return run(data);
    const copy = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    this.later(() => run(copy));
  }

  /**
   * Destroys `buffer` (of `registry`) once no recorded work can still use it. It leaves `registry`
   * at once, so its owner's count of live buffers drops when it lets go.
   */
  release(buffer: GPUBuffer, registry: BufferRegistry): void {
    registry.transfer(buffer, this.cache);
    const run = () => {
      if (this.touched.has(buffer)) this.afterSubmit.push(() => this.cache.destroy(buffer));
      else this.cache.destroy(buffer);
    };
    if (this.deferred > 0) this.later(run);
    else run();
  }

  /**
   * Takes back a released tensor buffer for reuse by later outputs of the same size (see
   * BufferPool); past the pool's budget it is released instead.
   */
  recycle(buffer: GPUBuffer): void {
    this.owned.transfer(buffer, this.cache);
    if (!this.pool.add(buffer)) this.release(buffer, this.cache);
  }

  /** A pooled buffer of `bytes`, handed back to the owned registry (see BufferPool.take). */
  reuse(bytes: number, forWrite: boolean, preferred?: GPUBuffer): GPUBuffer | undefined {
    const buffer = this.pool.take(bytes, forWrite ? (b) => !this.touched.has(b) : undefined, preferred);
    if (buffer) this.cache.transfer(buffer, this.owned);
    return buffer;
  }

  /**
   * Output buffers for program `key`: where possible the ones its previous call wrote, if they
   * were released since, so a loop binds the same buffers to the same program every iteration
   * and finds its bind groups cached.
   */
  outputs(key: string, bytes: readonly number[], create: (bytes: number) => GPUBuffer): GPUBuffer[] {
    const previous = this.lastOutputs.get(key);
    const made = bytes.map((b, i) => this.reuse(b, false, previous?.[i]) ?? create(b));
    if (this.lastOutputs.size >= MAX_PROGRAMS) this.lastOutputs.clear();
    this.lastOutputs.set(key, made);
    return made;
  }

  /** Frees the pooled buffers (after the next submit if recorded work may use them). */
  trim(): void {
    for (const b of this.pool.drain()) this.release(b, this.cache);
  }

  get pooled(): number {
    return this.pool.size;
  }

  /** Waits for queued work to be recorded, then submits; rejects with the first error met. */
  async flush(): Promise<void> {
    while (this.deferred > 0) await this.backlog;
    this.device.pushErrorScope('validation');
    this.submit();
    const error = await this.device.popErrorScope();
    const first = this.firstError;
    this.firstError = undefined;
    if (first) throw first;
    if (error) throw new KernelError('eager launch', error.message);
  }

  /** Submits what is recorded (nothing queued is waited for). */
  submit(): void {
    this.endPass();
    const encoder = this.encoder;
    this.encoder = undefined;
    this.sinceSubmit = 0;
    if (encoder && !this.abandoned) {
      this.device.queue.submit([encoder.finish()]);
      this.stats.submits++;
    }
    this.touched.clear();
    const after = this.afterSubmit;
    this.afterSubmit = [];
    for (const f of after) f();
    if (this.deferred === 0) {
      for (const b of this.retired) this.cache.destroy(b);
      this.retired = [];
    }
  }

  /** For a lost device: nothing more is recorded or submitted, and queued work is dropped. */
  abandon(): void {
    this.abandoned = true;
    this.encoder = undefined;
    this.pass = undefined;
    void this.backlog.catch(() => {});
  }

  private later(run: () => void | Promise<void>): void {
    this.deferred++;
    this.backlog = this.backlog.then(async () => {
      try {
        if (!this.abandoned) await run();
      } catch (error) {
        this.firstError ??= error;
      } finally {
        this.deferred--;
      }
    });
  }

  private prepareLater(key: string, built: KernelProgram | Promise<KernelProgram>): Promise<PreparedProgram> {
    const p = (async () => {
      const program = await built;
      const compiled = await Promise.all(program.launches.map(({ spec }) => this.pipelines.get(spec)));
      return this.assemble(program, compiled);
    })();
    this.preparing.set(key, p);
    p.then(
      (program) => {
        this.preparing.delete(key);
        this.keep(key, program);
      },
      () => this.preparing.delete(key),
    );
    return p;
  }

  private prepareNow(key: string, program: KernelProgram): PreparedProgram | undefined {
    const compiled = [];
    for (const { spec } of program.launches) {
      const kernel = this.pipelines.peek(spec);
      if (!kernel) return undefined;
      compiled.push(kernel);
    }
    const prepared = this.assemble(program, compiled);
    this.keep(key, prepared);
    return prepared;
  }

  private keep(key: string, program: PreparedProgram): void {
    this.programs.set(key, program);
    if (this.programs.size > MAX_PROGRAMS) this.evictOldest();
  }

  /** Everything a program's launches need but their bind groups: uniforms (written once) and scratch. */
  private assemble(program: KernelProgram, compiled: readonly CompiledKernel[]): PreparedProgram {
    for (const { spec, args } of program.launches) {
      if (args.length !== storageBindingCount(spec)) throw new KernelError(spec.name, `expects ${storageBindingCount(spec)} storage buffers, got ${args.length}`);
    }
    const scratch = program.scratch.map((bytes, i) =>
      this.cache.create(bytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, `${program.name}.scratch${i}`),
    );
    const io = Math.max(0, ...program.launches.flatMap((l) => l.args.map((a) => ('io' in a ? a.io + 1 : 0))));
    const launches = program.launches.map(({ spec, args }, i): PreparedLaunch => {
      let uniform: GPUBuffer | undefined;
      if (spec.uniforms) {
        uniform = this.cache.create(spec.uniforms.byteLength, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, `${spec.name}.uniforms`);
        this.device.queue.writeBuffer(uniform, 0, spec.uniforms);
        this.stats.uniformBuffers++;
      }
      const { pipeline, layout } = compiled[i];
      return { name: spec.name, pipeline, layout, bindings: spec.bindings, workgroups: spec.workgroups, uniform, args, bindGroups: new Map() };
    });
    this.stats.programs++;
    return { name: program.name, io, launches, scratch };
  }

  private evictOldest(): void {
    const [key, program] = this.programs.entries().next().value as [string, PreparedProgram];
    this.programs.delete(key);
    // Queued work may still hold the program: its buffers go at a submit with nothing queued.
    this.retired.push(...program.scratch, ...program.launches.flatMap((l) => (l.uniform ? [l.uniform] : [])));
  }

  private encode(program: PreparedProgram, io: readonly BufferBinding[]): void {
    if (this.abandoned) return;
    if (io.length < program.io) throw new KernelError(program.name, `expects ${program.io} buffers (inputs then outputs), got ${io.length}`);
    const pass = this.openPass();
    const ioKey = io.map(bindingKey).join(',');
    for (const launch of program.launches) {
      let group = launch.bindGroups.get(ioKey);
      if (!group) {
        group = this.bindGroup(launch, io, program.scratch);
        if (launch.bindGroups.size >= MAX_BIND_GROUPS) launch.bindGroups.delete(launch.bindGroups.keys().next().value as string);
        launch.bindGroups.set(ioKey, group);
      }
      pass.setPipeline(launch.pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(...launch.workgroups);
    }
    for (const b of io) this.touched.add(bufferOf(b));
    this.stats.launches += program.launches.length;
    this.sinceSubmit += program.launches.length;
    if (this.sinceSubmit >= MAX_BATCH) this.submit();
  }

  private bindGroup(launch: PreparedLaunch, io: readonly BufferBinding[], scratch: readonly GPUBuffer[]): GPUBindGroup {
    let next = 0;
    const entries = launch.bindings.map((kind, binding) => {
      if (kind === 'uniform') return { binding, resource: { buffer: launch.uniform! } };
      const arg = launch.args[next++];
      return { binding, resource: bindingResource('io' in arg ? io[arg.io] : scratch[arg.scratch]) };
    });
    this.stats.bindGroups++;
    return this.device.createBindGroup({ layout: launch.layout, entries, label: launch.name });
  }

  private openEncoder(): GPUCommandEncoder {
    this.encoder ??= this.device.createCommandEncoder({ label: 'eager' });
    return this.encoder;
  }

  private openPass(): GPUComputePassEncoder {
    if (!this.pass) {
      this.pass = this.openEncoder().beginComputePass({ label: 'eager' });
      this.stats.passes++;
    }
    return this.pass;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = undefined;
  }
}
