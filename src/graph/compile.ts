import '../gpu/dispose.js';
import type { BufferRange } from '../gpu/buffers.js';
import type { Engine } from '../gpu/engine.js';
import { DisposedError, DivergenceError, ShapeError } from '../gpu/errors.js';
import { checkStepLimits } from './check_limits.js';
import { TimestampProfiler, type PassTiming } from '../gpu/profiler.js';
import type { NonFiniteMode } from '../kernels/optimizer.js';
import { STEP_HEALTH_WORDS } from '../../shaders/lib/step_health.js';
import { gradients } from './autodiff.js';
import { createGraph } from './graph.js';
import type { DType, Graph, Value } from './ir.js';
import type { LowerContext } from './lower.js';
import type { ParameterStore } from './params.js';
import { decodeStepHealth } from './step_health.js';
import { fuseBiasGradients } from './passes/fuse_bias_grad.js';
import { fuseEpilogues } from './passes/fuse_epilogues.js';
import { eliminateDeadOps, scheduleOf } from './passes/schedule.js';
import { encodeLaunch } from '../gpu/launch.js';
import { DispatchList, Plan } from './plan.js';
import { buildUpdate, writeUpdateUniforms, type UpdateLaunches } from './update_launches.js';
import type { UpdateRule } from './update.js';

/** The shape and dtype (default f32) of one input of a compiled step. */
export interface InputSpec {
  shape: readonly number[];
  dtype?: DType;
}

/** What a step's graph function returns. */
export interface StepGraph {
  /** Values to keep readable after each run (loss, logits, metrics). */
  outputs?: Record<string, Value>;
  /** Differentiate `loss` with respect to every parameter of `store` used in the graph, then update them. */
  minimize?: {
    loss: Value;
    store: ParameterStore;
    optimizer: UpdateRule;
    clipNorm?: number;
    /**
     * A run whose loss or gradients hold NaN/Inf never updates: with 'error' (the default) no run
     * after it updates either, so the parameters stay the last finite ones until the caller, told by
     * the health record (`healthRange`), stops; with 'skip' only that run's update is skipped.
     */
    onNonFinite?: NonFiniteMode;
  };
}

/** What `compileStep` compiles: the inputs, the parameter stores, and the function that builds the graph. */
export interface StepDefinition<I extends string> {
  inputs: Record<I, InputSpec>;
  /** Stores whose parameters the graph may use; each parameter name must belong to exactly one. */
  stores: readonly ParameterStore[];
  /** Adds the step's ops to `g`, called once when the step is traced; returns the outputs to keep and what to minimize. */
  build(g: Graph, inputs: Record<I, Value>): StepGraph;
  /** Fuse epilogues and backward prologues into matmuls (default true). */
  fuse?: boolean;
}

/** The size of a compiled step. */
export interface StepStats {
  /** Kernel dispatches recorded by one run (all in one compute pass, one submit). */
  dispatches: number;
  /** Compute passes one run records: the whole step shares one, so WebGPU orders its dispatches without pass boundaries. */
  passes: number;
  /**
   * CPU microseconds `run` spends uploading feeds, encoding and submitting one step (hooks
   * included), the mean over the last runs (up to 32); 0 before the first run. Wall time on this
   * thread, so it is noisy on a loaded machine.
   */
  encodeMicros: number;
  /** Bytes of GPU memory this step holds (not counting the parameter stores). */
  bytes: number;
  /** Buffers this step owns. */
  buffers: number;
  /** Bytes of activation/gradient slots after liveness-based reuse. */
  pooledBytes: number;
}

/**
 * Traces `def.build` once into a graph, differentiates it, fuses and plans it, and returns a step
 * that replays the whole thing — forward, backward, optimizer — as one command buffer per run.
 */
export async function compileStep<I extends string>(engine: Engine, def: StepDefinition<I>): Promise<CompiledStep<I>> {
  const g = createGraph();
  const inputs = {} as Record<I, Value>;
  for (const [name, spec] of Object.entries(def.inputs) as [I, InputSpec][]) inputs[name] = g.input(name, spec.shape, spec.dtype ?? 'f32');
  const result = def.build(g, inputs);
  checkStepLimits(engine, g);
  const outputs = result.outputs ?? {};

  const owner = new Map<Value, ParameterStore>();
  for (const p of g.params) {
    const stores = def.stores.filter((s) => s.has(p.name));
    if (stores.length !== 1) {
      throw new ShapeError(`parameter '${p.name}' is ${stores.length ? 'in several stores' : 'in none of the stores given to compile'}; pass the model's store in 'stores'`);
    }
    owner.set(p, stores[0]);
  }

  const placed = new Map<Value, BufferRange>();
  for (const [p, store] of owner) placed.set(p, store.range(p.name));
  const keep = new Set<Value>(Object.values(outputs));
  const minimize = result.minimize;
  if (minimize) {
    // Buffers (running statistics) are state the kernels update, not parameters: never differentiated.
    const wrt = g.params.filter((p) => owner.get(p) === minimize.store && !minimize.store.isBuffer(p.name));
    if (!wrt.length) throw new ShapeError('minimize: the loss uses no parameter of the given store');
    const grads = gradients(g, minimize.loss, wrt);
    keep.add(minimize.loss); // the finite check reads it
    for (const p of wrt) {
      let d = grads.get(p)!;
      // Two parameters may receive the very same gradient value; each needs its own copy in the flat buffer.
      if (placed.has(d) || keep.has(d)) d = g.apply('scale', [d], { scale: 1, shift: 0 })[0];
      placed.set(d, minimize.store.gradRange(p.name));
      keep.add(d);
    }
  }

  const owned: GPUBuffer[] = [];
  const inputRanges = new Map<I, BufferRange>();
  for (const [name, v] of Object.entries(inputs) as [I, Value][]) {
    const buffer = engine.createStorage(v.size * 4, `input ${name}`);
    owned.push(buffer);
    const range = { buffer, offset: 0, size: v.size * 4 };
    inputRanges.set(name, range);
    placed.set(v, range);
  }

  let schedule = eliminateDeadOps(scheduleOf(g), keep);
  if (def.fuse ?? true) schedule = fuseBiasGradients(fuseEpilogues(schedule, keep), keep);
  const ctx: LowerContext = {
    software: engine.info.software,
    // Never waits for timing: shape classes not yet tuned are timed in the background (started
    // below), and their winners serve later compiles, not this one.
    tune: (shapeClass, candidates, bufferBytes) => engine.tuner.choose(shapeClass, candidates, bufferBytes),
  };
  try {
    const plan = await Plan.build(engine, { schedule, placed, outputs: [...keep] }, ctx);
    const update = minimize ? await buildUpdate(engine, minimize, plan.range(minimize.loss), owned) : undefined;
    // Parameters first used here were initialised by eager launches that are recorded but not yet
    // submitted; a run submits at once, so it must find them submitted.
    await engine.flush();
    engine.tuner.tuneInBackground();
    return new CompiledStep(engine, plan, inputs, inputRanges, outputs, owned, update);
  } catch (e) {
    for (const b of owned) engine.buffers.destroy(b);
    throw e;
  }
}

/** Work recorded around a step in the same command buffer (data gathering, metric sums). */
export interface StepHooks {
  /** Before the step's compute pass, e.g. a batch gather writing the inputs. */
  before?(encoder: GPUCommandEncoder): void;
  /** Inside the step's pass, after its dispatches, e.g. accumulating metrics. */
  inPass?(pass: GPUComputePassEncoder): void;
  /** After the pass, e.g. copies for asynchronous readback. */
  after?(encoder: GPUCommandEncoder): void;
}

const NO_FEEDS: Readonly<Record<string, ArrayBufferView>> = Object.freeze({});
const NO_HOOKS: StepHooks = Object.freeze({});
const STEP_ENCODER: GPUCommandEncoderDescriptor = Object.freeze({ label: 'step' });
const STEP_PASS: GPUComputePassDescriptor = Object.freeze({ label: 'step' });
/** Runs whose encode time `stats.encodeMicros` averages. */
const ENCODE_WINDOW = 32;

/** A compiled training or inference step. */
export class CompiledStep<I extends string> implements Disposable {
  private steps = 0;
  private runs = 0;
  private disposed = false;
  /** The update's launches (finite check, clipping, optimizer), flattened once for replay. */
  private readonly updateList: DispatchList;
  /** Reused for every submit, so a run makes no array. */
  private readonly submission: GPUCommandBuffer[] = [];
  private readonly encodeTimes = new Float64Array(ENCODE_WINDOW);
  private timedRuns = 0;

  constructor(
    private readonly engine: Engine,
    private readonly plan: Plan,
    private readonly inputValues: Record<I, Value>,
    private readonly inputRanges: Map<I, BufferRange>,
    private readonly outputValues: Record<string, Value>,
    private readonly owned: GPUBuffer[],
    private readonly update: UpdateLaunches | undefined,
  ) {
    this.updateList = new DispatchList(update?.launches ?? []);
  }

  /** Runs submitted so far (the stream of per-run randomness such as dropout masks). */
  get runCount(): number {
    return this.runs;
  }

  /**
   * Continues from a run saved after `runs` runs and `steps` updates (see `runCount`, `step`), as a
   * step rebuilt to resume it must: the per-run random streams and the update numbering go on.
   */
  continueFrom(runs: number, steps: number): void {
    for (const [name, v] of [['run count', runs], ['update count', steps]] as const) {
      if (!(Number.isInteger(v) && v >= 0)) throw new ShapeError(`${name} ${v} must be a non-negative integer`);
    }
    this.runs = runs;
    this.steps = steps;
  }

  /** Updates this step applied so far (the store's `optimizerSteps` counts those of every step). */
  get step(): number {
    return this.steps;
  }

  /**
   * Uploads the given inputs, then records the whole step into one compute pass and submits it.
   * The submit is immediate: eager launches recorded since the last `engine.flush()` (or read) run
   * after it, so flush them first when the step needs their results.
   * Inputs left out keep what they hold (e.g. written by a GPU data loader through `inputRange`).
   * `hooks` record more work (a batch gather, metric sums) into the same command buffer.
   */
  run(feeds: Partial<Record<I, ArrayBufferView>> = NO_FEEDS as Partial<Record<I, ArrayBufferView>>, hooks: StepHooks = NO_HOOKS): void {
    // Nothing here allocates beyond the encoder, pass and command buffer WebGPU returns: the
    // dispatch lists, descriptors and submit array are made once, so small steps stay cheap.
    const start = performance.now();
    const encoder = this.begin(feeds);
    hooks.before?.(encoder);
    const pass = encoder.beginComputePass(STEP_PASS);
    this.plan.encode(pass);
    this.updateList.record(pass);
    hooks.inPass?.(pass);
    pass.end();
    hooks.after?.(encoder);
    this.submission[0] = encoder.finish();
    this.engine.device.queue.submit(this.submission);
    this.encodeTimes[this.timedRuns++ % ENCODE_WINDOW] = (performance.now() - start) * 1e3;
  }

  /**
   * Runs one step like `run` (it is a real step: parameters are updated) with every dispatch in a
   * compute pass of its own, and returns the GPU time of each, in order. Needs the device feature
   * `timestamp-query`. Separate passes add a little synchronisation, so the total can exceed
   * the time of a normal run; the shares are what matter.
   */
  async profile(feeds: Partial<Record<I, ArrayBufferView>> = {}, hooks: StepHooks = {}): Promise<PassTiming[]> {
    const launches = [...this.plan.launchList, ...(this.update?.launches ?? [])];
    const profiler = new TimestampProfiler(this.engine, launches.length + (hooks.inPass ? 1 : 0));
    try {
      const encoder = this.begin(feeds);
      hooks.before?.(encoder);
      for (const l of launches) {
        const pass = profiler.beginPass(encoder, l.name);
        encodeLaunch(pass, l);
        pass.end();
      }
      if (hooks.inPass) {
        const pass = profiler.beginPass(encoder, 'hooks');
        hooks.inPass(pass);
        pass.end();
      }
      profiler.resolve(encoder);
      hooks.after?.(encoder);
      this.engine.device.queue.submit([encoder.finish()]);
      return await profiler.read();
    } finally {
      profiler.dispose();
    }
  }

  /**
   * Checks and uploads inputs without running the step: for values that stay fixed across runs
   * (constant targets), so the first real run needs no feeds and no step is spent on setting them.
   */
  write(feeds: Partial<Record<I, ArrayBufferView>>): void {
    if (this.disposed) throw new DisposedError('step was used after dispose()');
    this.engine.check();
    // for-in rather than Object.entries: no array per run.
    for (const name in feeds) {
      const data = feeds[name] as ArrayBufferView | undefined;
      if (data === undefined) continue; // left out: the input keeps what it holds
      const v = this.inputValues[name];
      if (!v) throw new ShapeError(`step input '${name}' does not exist (inputs: ${Object.keys(this.inputValues).join(', ')})`);
      if (data.byteLength !== v.size * 4) {
        throw new ShapeError(`step input '${name}' [${v.shape.join(', ')}] takes ${v.size} values, got ${data.byteLength / 4}`);
      }
      // Straight to the queue, so the write precedes this run's submit even while eager work waits.
      this.engine.device.queue.writeBuffer(this.inputRanges.get(name)!.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    }
  }

  /** Uploads the feeds, advances the step counters, and opens the run's encoder. */
  private begin(feeds: Partial<Record<I, ArrayBufferView>>): GPUCommandEncoder {
    this.write(feeds);
    if (this.update) {
      this.steps++;
      writeUpdateUniforms(this.engine.device.queue, this.update, this.update.store.nextOptimizerStep(), this.steps);
    }
    this.plan.prepareRun(this.runs++ % 0x100000000);
    return this.engine.device.createCommandEncoder(STEP_ENCODER);
  }

  /** Where an input lives, for GPU-side producers that fill it before a run. */
  inputRange(name: I): BufferRange {
    const r = this.inputRanges.get(name);
    if (!r) throw new ShapeError(`step input '${name}' does not exist`);
    return r;
  }

  /**
   * The health record of a training step (STEP_HEALTH_WORDS u32 words, see shaders/lib/step_health.ts
   * and `decodeStepHealth`): whether a run's loss or gradients were non-finite, which run first and
   * where, and how many updates were skipped. Copy it alongside other readbacks; it never needs a
   * sync of its own.
   */
  get healthRange(): BufferRange | undefined {
    return this.update && { buffer: this.update.health, offset: 0, size: STEP_HEALTH_WORDS * 4 };
  }

  /** Where an output lives (valid until dispose). */
  outputRange(name: string): BufferRange {
    return this.plan.range(this.output(name));
  }

  /**
   * Reads an output after the runs submitted so far (this waits for the GPU). A training step whose
   * updates halted on a non-finite loss or gradient (onNonFinite 'error') throws a DivergenceError
   * here, so a caller driving the step by hand learns of it at its next read instead of training on
   * with frozen parameters.
   */
  async read(name: string): Promise<Float32Array> {
    const values = await this.plan.read(this.output(name));
    if (this.update?.check.mode === 'error') {
      const range = this.healthRange!;
      const health = decodeStepHealth(new Uint32Array(await this.engine.readBytes(range.buffer, range.size, range.offset)), this.update.store);
      if (health.halted) throw new DivergenceError(health.firstBadRun, undefined, health.firstBad!, 'CompiledStep.read');
    }
    return values;
  }

  get stats(): StepStats {
    const ownBytes = this.owned.reduce((a, b) => a + b.size, 0);
    const timed = Math.min(this.timedRuns, ENCODE_WINDOW);
    let micros = 0;
    for (let i = 0; i < timed; i++) micros += this.encodeTimes[i];
    return {
      dispatches: this.plan.dispatches + this.updateList.length,
      passes: 1,
      encodeMicros: timed ? micros / timed : 0,
      bytes: this.plan.ownedBytes + ownBytes,
      buffers: this.plan.ownedBuffers + this.owned.length,
      pooledBytes: this.plan.pooledBytes,
    };
  }

  /** Frees the step's plan and buffers (not the parameter stores); a disposed step throws DisposedError. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.plan.dispose();
    this.submission.length = 0;
    for (const b of this.owned) this.engine.buffers.destroy(b);
  }

  /** `using step = await compileStep(...)` disposes it at the end of the block. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  private output(name: string): Value {
    const v = this.outputValues[name];
    if (!v) throw new ShapeError(`step output '${name}' does not exist (outputs: ${Object.keys(this.outputValues).join(', ') || 'none'})`);
    return v;
  }
}
