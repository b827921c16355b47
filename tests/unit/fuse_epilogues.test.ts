import { describe, expect, it } from 'vitest';
import { gradients } from '../../src/graph/autodiff.js';
import { createGraph } from '../../src/graph/graph.js';
import type { Value } from '../../src/graph/ir.js';
import { fuseEpilogues } from '../../src/graph/passes/fuse_epilogues.js';
import { eliminateDeadOps, scheduleOf, type ScheduledOp } from '../../src/graph/passes/schedule.js';
import type { ActivationSpec } from '../../shaders/lib/activations.js';
import { expectClose } from '../helpers/compare.js';
import { integers, uniform } from '../helpers/random.js';
import { evaluateOps } from '../reference/graph.js';

const f64 = (a: ArrayLike<number>) => Float64Array.from(a);

/** A 3-layer MLP training graph: loss and the gradients of every parameter. */
function mlp(hidden: ActivationSpec) {
  const g = createGraph();
  const x = g.input('x', [6, 5]);
  const labels = g.input('labels', [6], 'u32');
  const params: Value[] = [];
  let h = x;
  const sizes = [5, 4, 4, 3];
  for (let l = 0; l < 3; l++) {
    const w = g.param(`fc${l}.weight`, [sizes[l + 1], sizes[l]]); // PyTorch layout [out, in]: h·Wᵀ
    const b = g.param(`fc${l}.bias`, [sizes[l + 1]]);
    params.push(w, b);
    h = g.apply('matmul', [h, w], { transA: false, transB: true })[0];
    h = g.apply('bias_add', [h, b], { axis: -1 })[0];
    if (l < 2) h = g.apply('activation', [h], { activation: hidden })[0];
  }
  const [loss] = g.apply('softmax_cross_entropy', [h, labels], {});
  const grads = gradients(g, loss, params);
  const feeds = new Map<Value, Float64Array>([
    [x, f64(uniform(30, 1))],
    [labels, f64(integers(6, 3, 2))],
  ]);
  params.forEach((p, i) => feeds.set(p, f64(uniform(p.size, 10 + i))));
  const keep = new Set<Value>([loss, ...grads.values()]);
  return { g, loss, grads, feeds, keep };
}

describe('fuseEpilogues', () => {
  const hiddens: ActivationSpec[] = [{ kind: 'relu' }, { kind: 'tanh' }, { kind: 'gelu' }, { kind: 'leaky_relu', alpha: -0.5 }, { kind: 'leaky_relu', alpha: 0.2 }];
  for (const hidden of hiddens) {
    it(`fused and unfused ${hidden.kind}${hidden.alpha ?? ''} MLP training steps agree`, () => {
      const { g, feeds, keep } = mlp(hidden);
      const plain = eliminateDeadOps(scheduleOf(g), keep);
      const fused = fuseEpilogues(plain, keep);
      const a = evaluateOps(plain, feeds);
      const b = evaluateOps(fused, feeds);
      for (const v of keep) expectClose(b.get(v)!, a.get(v)!, { atol: 1e-12, rtol: 1e-12 }, v.name);
      expect(fused.length).toBeLessThan(plain.length);
    });
  }

  it('folds bias and activation into forward matmuls and activation derivatives into backward ones', () => {
    const { g, keep } = mlp({ kind: 'relu' });
    const fused = fuseEpilogues(eliminateDeadOps(scheduleOf(g), keep), keep);
    const ops = fused.map((s) => s.op);
    // No standalone bias_add or activation in the forward, no activation_backward at all.
    expect(ops.filter((o) => o === 'activation' || o === 'activation_backward')).toEqual([]);
    const matmuls = fused.filter((s): s is ScheduledOp<'matmul_fused'> => s.op === 'matmul_fused');
    const forward = matmuls.filter((s) => !s.attrs.prologue);
    expect(forward.map((s) => [s.attrs.bias, s.attrs.activation.kind])).toEqual(
      expect.arrayContaining([[true, 'relu'], [true, 'relu'], [true, 'none']]),
    );
    // dX of layers 1 and 2 carry relu' of the previous layer's output.
    expect(matmuls.filter((s) => s.attrs.prologue?.kind === 'relu')).toHaveLength(2);
  });

  it('leaky_relu with a negative slope keeps its input for the backward: the forward activation stays, its derivative is still folded', () => {
    const { g, keep } = mlp({ kind: 'leaky_relu', alpha: -0.5 });
    const fused = fuseEpilogues(eliminateDeadOps(scheduleOf(g), keep), keep);
    const matmuls = fused.filter((s): s is ScheduledOp<'matmul_fused'> => s.op === 'matmul_fused');
    expect(fused.filter((s) => s.op === 'activation')).toHaveLength(2);
    expect(matmuls.filter((s) => !s.attrs.prologue && s.attrs.activation.kind === 'leaky_relu')).toEqual([]);
    const prologues = matmuls.filter((s) => s.attrs.prologue?.kind === 'leaky_relu');
    expect(prologues).toHaveLength(2);
    // The saved operand of each prologue is the pre-activation (the forward activation's input).
    const activationInputs = new Set(fused.filter((s) => s.op === 'activation').map((s) => s.inputs[0]));
    for (const p of prologues) expect(activationInputs.has(p.inputs[p.inputs.length - 1])).toBe(true);
  });

  it('keeps intermediates that are read elsewhere or requested', () => {
    const g = createGraph();
    const x = g.input('x', [2, 3]);
    const w = g.param('w', [3, 3]);
    const b = g.param('b', [3]);
    const p = g.apply('matmul', [x, w], { transA: false, transB: false })[0];
    const q = g.apply('bias_add', [p, b], { axis: -1 })[0];
    const r = g.apply('activation', [q], { activation: { kind: 'relu' } })[0];
    const keep = new Set([r, p]);
    const fused = fuseEpilogues(scheduleOf(g), keep);
    expect(fused.map((s) => s.op)).toEqual(['matmul', 'bias_add', 'activation']);
  });
});

describe('fuseEpilogues on convolutions', () => {
  it('folds per-channel bias and activation into conv2d, and agrees with the unfused graph', () => {
    const g = createGraph();
    const x = g.input('x', [2, 3, 6, 5]);
    const w = g.param('w', [4, 3, 3, 3]);
    const b = g.param('b', [4]);
    let h = g.apply('conv2d', [x, w], { stride: [1, 1], padding: [1, 1], dilation: [1, 1] })[0];
    h = g.apply('bias_add', [h, b], { axis: 1 })[0];
    h = g.apply('activation', [h], { activation: { kind: 'leaky_relu', alpha: 0.2 } })[0];
    const t = g.input('t', h.shape);
    const [loss] = g.apply('mse', [h, t], {});
    const grads = gradients(g, loss, [w, b]);
    const keep = new Set<Value>([loss, ...grads.values()]);
    const plain = eliminateDeadOps(scheduleOf(g), keep);
    const fused = fuseEpilogues(plain, keep);
    expect(fused.filter((s) => s.op === 'conv2d_fused')).toHaveLength(1);
    expect(fused.some((s) => s.op === 'activation' || s.op === 'conv2d')).toBe(false);
    const feeds = new Map<Value, Float64Array>([
      [x, f64(uniform(x.size, 1))],
      [w, f64(uniform(w.size, 2))],
      [b, f64(uniform(4, 3))],
      [t, f64(uniform(t.size, 4))],
    ]);
    const a = evaluateOps(plain, feeds);
    const c = evaluateOps(fused, feeds);
    for (const v of keep) expectClose(c.get(v)!, a.get(v)!, { atol: 1e-12, rtol: 1e-12 }, v.name);
  });
});
