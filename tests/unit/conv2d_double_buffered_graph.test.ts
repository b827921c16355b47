import { describe, expect, it } from 'vitest';
import { gradients } from '../../src/graph/autodiff.js';
import { createGraph } from '../../src/graph/graph.js';
import type { Value } from '../../src/graph/ir.js';
import type { LowerContext } from '../../src/graph/lower.js';
import { lowerStep } from '../../src/graph/ops/index.js';
import { scheduleOf } from '../../src/graph/passes/schedule.js';
import { limitRefusal, workgroupNeeds } from '../../src/gpu/tune_limits.js';
import { conv2dBackwardDataTuning, conv2dBackwardFilterTuning, conv2dParams, conv2dTuning } from '../../src/kernels/conv2d.js';
import { convTranspose2dParams, convTranspose2dTuning } from '../../src/kernels/conv_transpose2d.js';
import { expectClose, numericGradient } from '../helpers/compare.js';
import { useEngine } from '../helpers/engine.js';
import { runGraphOnGpu } from '../helpers/run_graph.js';
import { uniform } from '../helpers/random.js';
import { evaluate } from '../reference/graph.js';

const GEMM = ['dbuf_128x128_8x8', 'dbuf_64x64_8x8'];
const FILTER = ['dbuf_split_128x128_8x8', 'dbuf_split_64x64_8x8'];

/** WebGPU's default limits (16 KiB, 256 invocations), compatibility mode's 128, a desktop GPU's. */
const DEFAULT = {
  maxStorageBufferBindingSize: 2 ** 27,
  maxBufferSize: 2 ** 28,
  maxComputeWorkgroupStorageSize: 16384,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupSizeX: 256,
  maxComputeWorkgroupSizeY: 256,
  maxComputeWorkgroupsPerDimension: 65535,
  maxStorageBuffersPerShaderStage: 8,
};
const COMPAT = { ...DEFAULT, maxComputeInvocationsPerWorkgroup: 128, maxComputeWorkgroupSizeX: 128, maxComputeWorkgroupSizeY: 128 };
const GPU = { ...DEFAULT, maxComputeWorkgroupStorageSize: 49152, maxComputeInvocationsPerWorkgroup: 1024, maxComputeWorkgroupSizeX: 1024, maxComputeWorkgroupSizeY: 1024 };

describe('double-buffered conv candidates and device limits', () => {
  const p = conv2dParams([8, 32, 26, 26], [64, 32, 3, 3], { padding: 1 });
  const tunings = { forward: conv2dTuning(p), 'backward-data': conv2dBackwardDataTuning(p), 'backward-filter': conv2dBackwardFilterTuning(p) };

  it('every pass offers both tiles; the limits reader sees their workgroup size and tile bytes', () => {
    for (const [pass, t] of Object.entries(tunings)) {
      const ids = pass === 'backward-filter' ? FILTER : GEMM;
      for (const id of ids) {
        const c = t.candidates.find((x) => x.id === id);
        expect(c, `${pass} offers ${id}`).toBeDefined();
        const big = id.includes('128x128');
        // Two tiles of each operand: 8 reduction rows × 128 (or 64) vec4 lanes... of 16 bytes.
        expect(workgroupNeeds(c!.spec), `${pass} ${id}`).toEqual({
          size: big ? [16, 16, 1] : [8, 8, 1],
          invocations: big ? 256 : 64,
          workgroupBytes: big ? 16384 : 8192,
        });
        expect(limitRefusal(c!.spec, DEFAULT), `${pass} ${id}`).toBeUndefined();
        expect(limitRefusal(c!.spec, GPU), `${pass} ${id}`).toBeUndefined();
        const compat = limitRefusal(c!.spec, COMPAT);
        if (big) expect(compat).toMatch(/maxComputeInvocationsPerWorkgroup 256, over this device's 128/);
        else expect(compat).toBeUndefined();
      }
    }
  });

  it('grouped convolutions never reach the tuner: their own kernels run, not the implicit-GEMM tiles', async () => {
    const g = createGraph();
    const x = g.input('x', [2, 4, 6, 6]);
    const w = g.input('w', [6, 2, 3, 3]);
    const [y] = g.apply('conv2d', [x, w], { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 2 } as never);
    const t = g.input('t', y.shape);
    const [loss] = g.apply('mse', [y, t], {});
    gradients(g, loss, [x, w]);
    const ctx: LowerContext = {
      software: false,
      tune: async (shapeClass) => {
        throw new Error(`grouped conv asked the tuner about ${shapeClass}`);
      },
    };
    const convs = scheduleOf(g).filter((op) => op.op.startsWith('conv2d'));
    expect(convs.map((op) => op.op).sort()).toEqual(['conv2d', 'conv2d_backward_data', 'conv2d_backward_filter']);
    for (const op of convs) {
      const lowering = await lowerStep(op, ctx);
      if (lowering.kind !== 'program') throw new Error(`${op.op} lowered to a view`);
      expect(lowering.program.launches.map((l) => l.spec.name).join(), op.op).toMatch(/^conv2d_grouped/);
    }
  });

  it('transposed convolutions share the family and its candidates', () => {
    const t = convTranspose2dTuning(convTranspose2dParams([2, 8, 5, 5], [8, 4, 3, 3], { stride: 2, padding: 1 }));
    for (const id of GEMM) expect(t.candidates.map((c) => c.id)).toContain(id);
  });
});

describe('autodiff through conv2d with the double-buffered kernels forced', () => {
  const engine = useEngine();

  /** Runs `g` as a plan whose lowering picks, for every shape class, the first of `forced` it is offered. */
  async function runForced(g: ReturnType<typeof createGraph>, data: Map<Value, Float32Array>, wanted: Value[], forced: string[]) {
    const chosen: string[] = [];
    const out = await runGraphOnGpu(engine(), g, data, wanted, true, async (shapeClass, candidates) => {
      const c = candidates.find((x) => forced.includes(x.id));
      if (!c) throw new Error(`${shapeClass} offers none of ${forced.join(', ')}`);
      chosen.push(`${shapeClass.split('|')[0]}:${c.id}`);
      return c.id;
    });
    return { out, chosen };
  }

  // 'same' padding of a 3×3 kernel ([1, 1]), Cout 5 and Cin 3 under one tile, batch 2; and stride 2.
  const cases = [
    { x: [2, 3, 6, 5], w: [5, 3, 3, 3], stride: [1, 1], padding: [1, 1] },
    { x: [1, 2, 7, 6], w: [3, 2, 3, 3], stride: [2, 2], padding: [1, 1] },
  ];
  for (const [k, c] of cases.entries()) {
    const [gemm, filter] = [GEMM[k % 2], FILTER[k % 2]];
    it(`dx and dw of mse(conv2d(x, w), t) match finite differences: x [${c.x}] w [${c.w}] stride ${c.stride} (${gemm}, ${filter})`, async () => {
      const g = createGraph();
      const x = g.input('x', c.x);
      const w = g.input('w', c.w);
      const [y] = g.apply('conv2d', [x, w], { stride: c.stride, padding: c.padding, dilation: [1, 1] } as never);
      const t = g.input('t', y.shape);
      const [loss] = g.apply('mse', [y, t], {});
      const end = g.nodes.length;
      const grads = gradients(g, loss, [x, w]);
      const data = new Map<Value, Float32Array>([[x, uniform(x.size, 11)], [w, uniform(w.size, 12)], [t, uniform(t.size, 13)]]);
      const { out, chosen } = await runForced(g, data, [y, grads.get(x)!, grads.get(w)!], [gemm, filter]);
      expect(chosen.sort()).toEqual([`conv2d:${gemm}`, `conv2d_backward_data:${gemm}`, `conv2d_backward_filter:${filter}`]);
      const feeds = new Map<Value, Float64Array>([...data].map(([v, d]) => [v, Float64Array.from(d)]));
      expectClose(out.get(y)!, evaluate(g, feeds).get(y)!, { atol: 2e-5, rtol: 1e-4 }, 'y');
      for (const v of [x, w]) {
        const numeric = numericGradient((p) => evaluate(g, new Map(feeds).set(v, p), end).get(loss)![0], feeds.get(v)!, 1e-4);
        expectClose(out.get(grads.get(v)!)!, numeric, { atol: 1e-5, rtol: 1e-3 }, `d${v.name}`);
      }
    });
  }
});
