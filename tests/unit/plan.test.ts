import { describe, expect, it } from 'vitest';
import { gradients } from '../../src/graph/autodiff.js';
import { createGraph } from '../../src/graph/graph.js';
import type { Value } from '../../src/graph/ir.js';
import type { LowerContext } from '../../src/graph/lower.js';
import { fuseBiasGradients } from '../../src/graph/passes/fuse_bias_grad.js';
import { fuseEpilogues } from '../../src/graph/passes/fuse_epilogues.js';
import { eliminateDeadOps, scheduleOf } from '../../src/graph/passes/schedule.js';
import { Plan, type BufferRange } from '../../src/graph/plan.js';
import type { Activation } from '../../shaders/lib/activations.js';
import { useEngine } from '../helpers/engine.js';
import { expectClose } from '../helpers/compare.js';
import { integers, uniform } from '../helpers/random.js';
import { evaluateOps } from '../reference/graph.js';

const engine = useEngine();
const firstCandidate: LowerContext = { software: true, tune: async (_c, candidates) => candidates[0].id };

/** An MLP training graph in PyTorch's Linear layout, with awkward sizes. */
function mlp(hidden: Activation, sizes = [7, 9, 5, 3], batch = 5) {
  const g = createGraph();
  const x = g.input('x', [batch, sizes[0]]);
  const labels = g.input('labels', [batch], 'u32');
  const params: Value[] = [];
  let h = x;
  for (let l = 0; l + 1 < sizes.length; l++) {
    const w = g.param(`fc${l}.weight`, [sizes[l + 1], sizes[l]]);
    const b = g.param(`fc${l}.bias`, [sizes[l + 1]]);
    params.push(w, b);
    h = g.apply('matmul', [h, w], { transA: false, transB: true })[0];
    h = g.apply('bias_add', [h, b], { axis: -1 })[0];
    if (l + 2 < sizes.length) h = g.apply('activation', [h], { activation: { kind: hidden } })[0];
  }
  const [loss, , correct] = g.apply('softmax_cross_entropy', [h, labels], {});
  const grads = gradients(g, loss, params);
  const data = new Map<Value, Float32Array | Uint32Array>([
    [x, uniform(x.size, 1)],
    [labels, integers(batch, sizes.at(-1)!, 2)],
  ]);
  params.forEach((p, i) => data.set(p, uniform(p.size, 10 + i, -0.7, 0.7)));
  return { g, loss, correct, grads, data };
}

async function runPlan(fuse: boolean, hidden: Activation) {
  const e = engine();
  const { g, loss, correct, grads, data } = mlp(hidden);
  const keep = new Set<Value>([loss, correct, ...grads.values()]);
  let schedule = eliminateDeadOps(scheduleOf(g), keep);
  const reference = evaluateOps(schedule, new Map([...data].map(([v, d]) => [v, Float64Array.from(d)])));
  if (fuse) schedule = fuseBiasGradients(fuseEpilogues(schedule, keep), keep);
  const placed = new Map<Value, BufferRange>();
  for (const [v, d] of data) {
    const buffer = e.createStorage(d.byteLength, v.name);
    e.upload(buffer, d);
    placed.set(v, { buffer, offset: 0, size: d.byteLength });
  }
  const plan = await Plan.build(e, { schedule, placed, outputs: [...keep] }, firstCandidate);
  const encoder = e.device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  plan.encode(pass);
  pass.end();
  e.device.queue.submit([encoder.finish()]);
  for (const v of keep) expectClose(await plan.read(v), reference.get(v)!, { atol: 2e-6, rtol: 1e-4 }, `${fuse ? 'fused' : 'plain'} ${v.name}`);
  const dispatches = plan.dispatches;
  plan.dispose();
  for (const r of placed.values()) e.buffers.destroy(r.buffer);
  return dispatches;
}

describe('Plan', () => {
  for (const hidden of ['relu', 'gelu'] as const) {
    it(`runs a ${hidden} MLP training step on the GPU, matching the float64 graph`, async () => {
      const plain = await runPlan(false, hidden);
      const fused = await runPlan(true, hidden);
      expect(fused).toBeLessThan(plain);
    });
  }

  it('leaves no buffers alive', () => {
    expect(engine().stats.liveBuffers).toBe(0);
  });
});

describe('Plan with convolutions', () => {
  it('runs a small CNN training step on the GPU, matching the float64 graph', async () => {
    const e = engine();
    const g = createGraph();
    const x = g.input('x', [3, 2, 9, 7]);
    const labels = g.input('labels', [3], 'u32');
    const w1 = g.param('w1', [5, 2, 3, 3]);
    const b1 = g.param('b1', [5]);
    const w2 = g.param('w2', [4, 5, 2, 2]);
    const fc = g.param('fc', [3, 4 * 2 * 2]);
    let h = g.apply('conv2d', [x, w1], { stride: [1, 1], padding: [1, 0], dilation: [1, 1] })[0]; // [3,5,9,5]
    h = g.apply('bias_add', [h, b1], { axis: 1 })[0];
    h = g.apply('activation', [h], { activation: { kind: 'relu' } })[0];
    h = g.apply('conv2d', [h, w2], { stride: [2, 1], padding: [0, 0], dilation: [1, 2] })[0]; // [3,4,4,3]
    h = g.apply('max_pool2d', [h], { kernel: [2, 2], stride: [2, 1], padding: [0, 0], dilation: [1, 1] })[0]; // [3,4,2,2]
    h = g.apply('reshape', [h], { shape: [3, 16] })[0];
    const logits = g.apply('matmul', [h, fc], { transA: false, transB: true })[0];
    const [loss] = g.apply('softmax_cross_entropy', [logits, labels], {});
    const params = [w1, b1, w2, fc];
    const grads = gradients(g, loss, params);
    const keep = new Set<Value>([loss, ...grads.values()]);
    const schedule = fuseEpilogues(eliminateDeadOps(scheduleOf(g), keep), keep);
    const data = new Map<Value, Float32Array | Uint32Array>([
      [x, uniform(x.size, 41)],
      [labels, Uint32Array.of(0, 2, 1)],
    ]);
    params.forEach((p, i) => data.set(p, uniform(p.size, 50 + i, -0.6, 0.6)));
    const reference = evaluateOps(scheduleOf(g), new Map([...data].map(([v, d]) => [v, Float64Array.from(d)])));
    const placed = new Map<Value, BufferRange>();
    for (const [v, d] of data) {
      const buffer = e.createStorage(d.byteLength, v.name);
      e.upload(buffer, d);
      placed.set(v, { buffer, offset: 0, size: d.byteLength });
    }
    const plan = await Plan.build(e, { schedule, placed, outputs: [...keep] }, firstCandidate);
    const encoder = e.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    plan.encode(pass);
    pass.end();
    e.device.queue.submit([encoder.finish()]);
    for (const v of keep) expectClose(await plan.read(v), reference.get(v)!, { atol: 3e-6, rtol: 1e-4 }, v.name);
    plan.dispose();
    for (const r of placed.values()) e.buffers.destroy(r.buffer);
    expect(e.stats.liveBuffers).toBe(0);
  });
});
