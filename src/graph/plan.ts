import { bindingResource, type BufferBinding, type BufferRange } from '../gpu/buffers.js';
import type { Engine } from '../gpu/engine.js';
import { DisposedError, KernelError } from '../gpu/errors.js';
import type { KernelSpec } from '../kernels/kernel.js';
import type { Value } from './ir.js';
import type { LowerContext, Lowering } from './lower.js';
import { RULES } from './ops/index.js';
import type { OpKind } from './ops/kinds.js';
import type { OpRule } from './ops/rule.js';
import { planMemory, type PlanStep } from './passes/plan_memory.js';
import type { Schedule, ScheduledOp } from './passes/schedule.js';

export type { BufferRange };

export interface PlanSpec {
  schedule: Schedule;
  /** Values stored where the caller says: parameters and gradients in flat buffers, fed inputs. */
  placed: ReadonlyMap<Value, BufferRange>;
  /** Values to keep readable after a run; each gets a buffer of its own. */
  outputs: readonly Value[];
}

export interface Launch {
  name: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: [number, number, number];
}

/**
 * A schedule turned into fixed GPU work: every buffer, uniform, pipeline and bind group is made
 * here once, so running it only records dispatches. Activations share buffers by liveness.
 */
export class Plan {
  private disposed = false;

  private constructor(
    private readonly engine: Engine,
    private readonly launches: Launch[],
    private readonly ranges: Map<Value, BufferRange>,
    private owned: GPUBuffer[],
    readonly pooledBytes: number,
  ) {}

  static async build(engine: Engine, spec: PlanSpec, ctx: LowerContext): Promise<Plan> {
    const { schedule, placed, outputs } = spec;
    const lowerings: Lowering[] = [];
    for (const step of schedule) {
      const rule = RULES[step.op] as OpRule<OpKind>;
      let lowering = await rule.lower(step as ScheduledOp<OpKind>, ctx);
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
      for (let i = 0; i < schedule.length; i++) {
        const l = lowerings[i];
        if (l.kind !== 'program') continue;
        const io = [...schedule[i].inputs, ...schedule[i].outputs].map((v) => ranges.get(v)!);
        for (const { spec, args } of l.program.launches) {
          const buffers = args.map((a) => ('io' in a ? io[a.io] : { ...scratch[a.scratch], size: l.program.scratch[a.scratch] }));
          launches.push(await makeLaunch(engine, spec, buffers, owned));
        }
      }
      const pooledBytes = memory.slotBytes.reduce((a, b) => a + b, 0);
      return new Plan(engine, launches, ranges, owned, pooledBytes);
    } catch (e) {
      for (const b of owned) engine.buffers.destroy(b);
      throw e;
    }
  }

  get dispatches(): number {
    return this.launches.length;
  }

  /** Records every dispatch of the plan into `pass`. */
  encode(pass: GPUComputePassEncoder): void {
    if (this.disposed) throw new DisposedError('plan was used after dispose()');
    for (const l of this.launches) encodeLaunch(pass, l);
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

/** Pipeline, uniforms (written once) and bind group of one kernel launch; buffers made go to `owned`. */
export async function makeLaunch(engine: Engine, spec: KernelSpec, buffers: readonly BufferBinding[], owned: GPUBuffer[]): Promise<Launch> {
  const { pipeline, layout } = await engine.pipelines.get(spec);
  let uniform: GPUBuffer | undefined;
  if (spec.uniforms) {
    uniform = engine.buffers.create(spec.uniforms.byteLength, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, `${spec.name}.uniforms`);
    owned.push(uniform);
    engine.device.queue.writeBuffer(uniform, 0, spec.uniforms);
  }
  let next = 0;
  const entries = spec.bindings.map((kind, binding) => {
    if (kind === 'uniform') return { binding, resource: { buffer: uniform! } };
    return { binding, resource: bindingResource(buffers[next++]) };
  });
  const bindGroup = engine.device.createBindGroup({ layout, entries, label: spec.name });
  return { name: spec.name, pipeline, bindGroup, workgroups: spec.workgroups };
}

export function encodeLaunch(pass: GPUComputePassEncoder, l: Launch): void {
  pass.setPipeline(l.pipeline);
  pass.setBindGroup(0, l.bindGroup);
  pass.dispatchWorkgroups(...l.workgroups);
}
