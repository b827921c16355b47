import type { BufferRange } from '../gpu/buffers.js';
import type { Engine } from '../gpu/engine.js';
import { DisposedError, KernelError } from '../gpu/errors.js';
import { makeLaunch, type Launch } from '../gpu/launch.js';
import type { Value } from './ir.js';
import type { LowerContext, Lowering } from './lower.js';
import { inPlaceInputs } from './ops/batch_norm.js';
import { lowerStep, RULES } from './ops/index.js';
import { planMemory, type PlanStep } from './passes/plan_memory.js';
import type { Schedule } from './passes/schedule.js';

export type { BufferRange };

export interface PlanSpec {
  schedule: Schedule;
  /** Values stored where the caller says: parameters and gradients in flat buffers, fed inputs. */
  placed: ReadonlyMap<Value, BufferRange>;
  /** Values to keep readable after a run; each gets a buffer of its own. */
  outputs: readonly Value[];
}

/**
 * Launches flattened for replay: pipelines, bind groups and workgroup counts in parallel arrays,
 * so recording them makes no array, closure or object (the spread of a `[x, y, z]` tuple would).
 */
export class DispatchList {
  private readonly pipelines: GPUComputePipeline[];
  private readonly bindGroups: GPUBindGroup[];
  private readonly groups: Uint32Array;

  constructor(launches: readonly Launch[]) {
    this.pipelines = launches.map((l) => l.pipeline);
    this.bindGroups = launches.map((l) => l.bindGroup);
    this.groups = new Uint32Array(launches.length * 3);
    launches.forEach((l, i) => this.groups.set(l.workgroups, i * 3));
  }

  get length(): number {
    return this.pipelines.length;
  }

  /** Records every launch, in order, into an open compute pass. */
  record(pass: GPUComputePassEncoder): void {
    const { pipelines, bindGroups, groups } = this;
    for (let i = 0; i < pipelines.length; i++) {
      pass.setPipeline(pipelines[i]);
      pass.setBindGroup(0, bindGroups[i]);
      pass.dispatchWorkgroups(groups[3 * i], groups[3 * i + 1], groups[3 * i + 2]);
    }
  }
}

/** A launch whose uniforms are rewritten before every run. */
interface DynamicLaunch {
  name: string;
  uniform: GPUBuffer;
  bytes: number;
  uniforms(run: number): ArrayBuffer;
}

/**
 * A schedule turned into fixed GPU work: every buffer, uniform, pipeline and bind group is made
 * here once, so running it only records dispatches. Activations share buffers by liveness.
 */
export class Plan {
  private disposed = false;
  private readonly list: DispatchList;

  private constructor(
    private readonly engine: Engine,
    private readonly launches: Launch[],
    private readonly dynamic: DynamicLaunch[],
    private readonly ranges: Map<Value, BufferRange>,
    private owned: GPUBuffer[],
    readonly pooledBytes: number,
  ) {
    this.list = new DispatchList(launches);
  }

  static async build(engine: Engine, spec: PlanSpec, ctx: LowerContext): Promise<Plan> {
    const { schedule, placed, outputs } = spec;
    // A kernel that updates an input in place (running statistics) must write persistent storage
    // the caller owns: pooled storage would be reused by other values, and lost after the run.
    // Dispatches of one pass see each other's writes in order, so later readers see the update.
    for (const step of schedule) {
      for (const i of inPlaceInputs(step)) {
        if (!placed.has(step.inputs[i])) {
          throw new KernelError(step.op, `${step.inputs[i]} is updated in place, so it must be persistent storage (a parameter store's buffer), not a computed value`);
        }
      }
    }
    const lowerings: Lowering[] = [];
    for (const step of schedule) {
      let lowering = await lowerStep(step, ctx);
      // A view whose result must live elsewhere (a gradient slot, an output) becomes a copy.
      if (lowering.kind === 'view' && (placed.has(step.outputs[0]) || outputs.includes(step.outputs[0]))) {
        lowering = await RULES.scale.lower({ op: 'scale', attrs: { scale: 1, shift: 0 }, inputs: step.inputs, outputs: step.outputs }, ctx);
      }
      lowerings.push(lowering);
    }

    const owned: GPUBuffer[] = [];
    const ranges = new Map<Value, BufferRange>(placed);
    const own = (bytes: number, label: string): BufferRange => {
      const buffer = engine.createStorage(bytes, label);
      owned.push(buffer);
      return { buffer, offset: 0, size: buffer.size };
    };
    try {
      for (const v of outputs) if (!ranges.has(v)) ranges.set(v, own(v.size * 4, `output ${v.name}`));

      // Everything else is pooled by liveness; views share their source's storage.
      const steps: PlanStep[] = schedule.map((s, i) => ({
        uses: s.inputs.map((v) => v.id),
        defines: s.outputs.map((v) => v.id),
        aliases: lowerings[i].kind === 'view' ? new Map([[s.outputs[0].id, s.inputs[0].id]]) : undefined,
      }));
      const byId = new Map<number, Value>();
      for (const s of schedule) for (const v of [...s.inputs, ...s.outputs]) byId.set(v.id, v);
      const persistent = new Set([...ranges.keys()].map((v) => v.id));
      const memory = planMemory(steps, (id) => byId.get(id)!.size * 4, persistent);
      const slots = memory.slotBytes.map((bytes, i) => own(bytes, `slot ${i}`));
      for (const [id, slot] of memory.slotOf) ranges.set(byId.get(id)!, { ...slots[slot], size: byId.get(id)!.size * 4 });
      schedule.forEach((s, i) => {
        if (lowerings[i].kind === 'view' && !ranges.has(s.outputs[0])) ranges.set(s.outputs[0], { ...ranges.get(s.inputs[0])! });
      });
      for (const s of schedule) {
        for (const v of [...s.inputs, ...s.outputs]) {
          if (!ranges.has(v)) throw new KernelError(s.op, `value ${v} has no storage: feed it as an input or compute it in the graph`);
        }
      }

      // Scratch buffer j is shared by every program: programs run one after another.
      const scratchBytes: number[] = [];
      for (const l of lowerings) {
        if (l.kind !== 'program') continue;
        l.program.scratch.forEach((b, j) => (scratchBytes[j] = Math.max(scratchBytes[j] ?? 0, b)));
      }
      const scratch = scratchBytes.map((b, j) => own(b, `scratch ${j}`));

      const launches: Launch[] = [];
      const dynamic: DynamicLaunch[] = [];
      for (let i = 0; i < schedule.length; i++) {
        const l = lowerings[i];
        if (l.kind !== 'program') continue;
        const io = [...schedule[i].inputs, ...schedule[i].outputs].map((v) => ranges.get(v)!);
        const made: Launch[] = [];
        for (const { spec, args } of l.program.launches) {
          const buffers = args.map((a) => ('io' in a ? io[a.io] : { ...scratch[a.scratch], size: l.program.scratch[a.scratch] }));
          made.push(await makeLaunch(engine, spec, buffers, owned));
        }
        for (const d of l.dynamicUniforms ?? []) {
          const launch = made[d.launch];
          const bytes = l.program.launches[d.launch]?.spec.uniforms?.byteLength;
          if (!launch?.uniform || bytes === undefined) throw new KernelError(schedule[i].op, `dynamic uniforms name launch ${d.launch}, which has no uniforms`);
          dynamic.push({ name: launch.name, uniform: launch.uniform, bytes, uniforms: d.uniforms });
        }
        launches.push(...made);
      }
      const pooledBytes = memory.slotBytes.reduce((a, b) => a + b, 0);
      return new Plan(engine, launches, dynamic, ranges, owned, pooledBytes);
    } catch (e) {
      for (const b of owned) engine.buffers.destroy(b);
      throw e;
    }
  }

  get dispatches(): number {
    return this.launches.length;
  }

  /**
   * Rewrites the uniforms that change per run (e.g. dropout's stream) for run number `run`; call
   * just before submitting that run. The queue applies writeBuffer and submits in call order, so a
   * run submitted earlier keeps the values written before it; no buffer is allocated.
   */
  prepareRun(run: number): void {
    if (this.disposed) throw new DisposedError('plan was used after dispose()');
    for (let i = 0; i < this.dynamic.length; i++) {
      const d = this.dynamic[i];
      const data = d.uniforms(run);
      if (data.byteLength !== d.bytes) throw new KernelError(d.name, `dynamic uniforms are ${data.byteLength} bytes, the launch was built with ${d.bytes}`);
      this.engine.device.queue.writeBuffer(d.uniform, 0, data);
    }
  }

  /** Launches whose uniforms `prepareRun` rewrites. */
  get dynamicLaunches(): number {
    return this.dynamic.length;
  }

  /** Records every dispatch of the plan into `pass`. */
  encode(pass: GPUComputePassEncoder): void {
    if (this.disposed) throw new DisposedError('plan was used after dispose()');
    this.list.record(pass);
  }

  /** The launches `encode` records, in order (profiling times each in a pass of its own). */
  get launchList(): readonly Launch[] {
    if (this.disposed) throw new DisposedError('plan was used after dispose()');
    return this.launches;
  }

  /** Where a value of the plan lives (outputs and placed values stay valid between runs). */
  range(v: Value): BufferRange {
    const r = this.ranges.get(v);
    if (!r) throw new KernelError('plan', `value ${v} is not part of this plan`);
    return r;
  }

  async read(v: Value): Promise<Float32Array> {
    const r = this.range(v);
    return new Float32Array(await this.engine.readBytes(r.buffer, v.size * 4, r.offset));
  }

  get ownedBytes(): number {
    return this.owned.reduce((a, b) => a + b.size, 0);
  }

  get ownedBuffers(): number {
    return this.owned.length;
  }

  dispose(): void {
    for (const b of this.owned) this.engine.buffers.destroy(b);
    this.owned = [];
    this.disposed = true;
  }
}
