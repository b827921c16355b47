import type { Engine } from '../../src/gpu/engine.js';
import type { Graph, Value } from '../../src/graph/ir.js';
import type { LowerContext } from '../../src/graph/lower.js';
import { eliminateDeadOps, scheduleOf } from '../../src/graph/passes/schedule.js';
import { Plan, type BufferRange } from '../../src/graph/plan.js';

/**
 * Runs graph `g` once on the GPU as a plan (no fusion) with `data` fed to its inputs, and reads
 * `wanted` back. `software` picks the kernels lowering chooses for a software adapter (true) or a
 * GPU (false), so both variants of a kernel family can be tested on the same adapter. `tune`
 * answers lowering's tuning questions (default: the first candidate).
 */
export async function runGraphOnGpu(
  e: Engine,
  g: Graph,
  data: ReadonlyMap<Value, Float32Array | Uint32Array>,
  wanted: readonly Value[],
  software: boolean,
  tune: LowerContext['tune'] = async (_c, candidates) => candidates[0].id,
): Promise<Map<Value, Float32Array>> {
  const keep = new Set(wanted);
  const ctx: LowerContext = { software, tune };
  const placed = new Map<Value, BufferRange>();
  for (const [v, d] of data) {
    const buffer = e.createStorage(Math.max(4, d.byteLength), v.name);
    e.upload(buffer, d);
    placed.set(v, { buffer, offset: 0, size: d.byteLength });
  }
  const plan = await Plan.build(e, { schedule: eliminateDeadOps(scheduleOf(g), keep), placed, outputs: [...keep] }, ctx);
  try {
    const encoder = e.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    plan.encode(pass);
    pass.end();
    e.device.queue.submit([encoder.finish()]);
    const out = new Map<Value, Float32Array>();
    for (const v of wanted) out.set(v, await plan.read(v));
    return out;
  } finally {
    plan.dispose();
    for (const r of placed.values()) e.buffers.destroy(r.buffer);
  }
}
