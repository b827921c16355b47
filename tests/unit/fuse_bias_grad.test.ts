import { describe, expect, it } from 'vitest';
import { gradients } from '../../src/graph/autodiff.js';
import { createGraph } from '../../src/graph/graph.js';
import type { Value } from '../../src/graph/ir.js';
import { fuseBiasGradients } from '../../src/graph/passes/fuse_bias_grad.js';
import { fuseEpilogues } from '../../src/graph/passes/fuse_epilogues.js';
import { eliminateDeadOps, scheduleOf } from '../../src/graph/passes/schedule.js';
import { expectClose } from '../helpers/compare.js';
import { integers, uniform } from '../helpers/random.js';
import { evaluateOps } from '../reference/graph.js';

const f64 = (a: ArrayLike<number>) => Float64Array.from(a);

describe('fuseBiasGradients', () => {
  it('computes every Linear bias gradient inside its weight-gradient matmul', () => {
    const g = createGraph();
    const x = g.input('x', [6, 5]);
    const labels = g.input('labels', [6], 'u32');
    const params: Value[] = [];
    let h = x;
    const sizes = [5, 7, 4, 3];
    for (let l = 0; l < 3; l++) {
      const w = g.param(`w${l}`, [sizes[l + 1], sizes[l]]);
      const b = g.param(`b${l}`, [sizes[l + 1]]);
      params.push(w, b);
      h = g.apply('bias_add', [g.apply('matmul', [h, w], { transA: false, transB: true })[0], b], { axis: -1 })[0];
      if (l < 2) h = g.apply('activation', [h], { activation: { kind: 'relu' } })[0];
    }
    const [loss] = g.apply('softmax_cross_entropy', [h, labels], {});
    const grads = gradients(g, loss, params);
    const keep = new Set<Value>([loss, ...grads.values()]);
    const epilogues = fuseEpilogues(eliminateDeadOps(scheduleOf(g), keep), keep);
    const fused = fuseBiasGradients(epilogues, keep);
    expect(epilogues.filter((s) => s.op === 'sum')).toHaveLength(3);
    expect(fused.filter((s) => s.op === 'sum' || s.op === 'reshape')).toHaveLength(0);
    expect(fused.filter((s) => s.op === 'matmul_fused' && s.outputs.length === 2)).toHaveLength(3);
    const feeds = new Map<Value, Float64Array>([
      [x, f64(uniform(30, 1))],
      [labels, f64(integers(6, 3, 2))],
    ]);
    params.forEach((p, i) => feeds.set(p, f64(uniform(p.size, 5 + i))));
    const a = evaluateOps(epilogues, feeds);
    const b = evaluateOps(fused, feeds);
    for (const v of keep) expectClose(b.get(v)!, a.get(v)!, { atol: 1e-12, rtol: 1e-12 }, v.name);
  });

  it('leaves sums alone when no matching weight-gradient matmul exists', () => {
    const g = createGraph();
    const d = g.input('d', [4, 3]);
    const s = g.apply('sum', [d], { axis: 0 })[0];
    const fused = fuseBiasGradients(scheduleOf(g), new Set([s]));
    expect(fused.map((o) => o.op)).toEqual(['sum']);
  });
});
