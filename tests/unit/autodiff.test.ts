import { describe, expect, it } from 'vitest';
import { gradients } from '../../src/graph/autodiff.js';
import { createGraph } from '../../src/graph/graph.js';
import type { Graph, Value } from '../../src/graph/ir.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { expectClose, numericGradient } from '../helpers/compare.js';
import { integers, uniform } from '../helpers/random.js';
import { evaluate } from '../reference/graph.js';

/** Checks every gradient autodiff builds against central differences of the forward graph. */
function checkGradients(g: Graph, loss: Value, feeds: Map<Value, Float64Array>, wrt: Value[]): void {
  const forwardEnd = g.nodes.length;
  const grads = gradients(g, loss, wrt);
  const env = evaluate(g, feeds);
  for (const w of wrt) {
    const numeric = numericGradient((v) => {
      const f = new Map(feeds);
      f.set(w, v);
      return evaluate(g, f, forwardEnd).get(loss)![0];
    }, feeds.get(w)!);
    expectClose(env.get(grads.get(w)!)!, numeric, { atol: 1e-7, rtol: 1e-6 }, `d loss / d ${w.name}`);
  }
}

const f64 = (a: ArrayLike<number>) => Float64Array.from(a);

describe('autodiff', () => {
  it('differentiates an MLP with softmax cross-entropy through every transpose case', () => {
    for (const [transA, transB] of [[false, false], [false, true], [true, false], [true, true]] as const) {
      const g = createGraph();
      const x = g.input('x', transA ? [4, 5] : [5, 4]);
      const labels = g.input('labels', [5], 'u32');
      const w1 = g.param('w1', transB ? [3, 4] : [4, 3]);
      const b1 = g.param('b1', [3]);
      const w2 = g.param('w2', [3, 2]);
      let h = g.apply('matmul', [x, w1], { transA, transB })[0];
      h = g.apply('bias_add', [h, b1], { axis: -1 })[0];
      h = g.apply('activation', [h], { activation: { kind: 'tanh' } })[0];
      const logits = g.apply('matmul', [h, w2], { transA: false, transB: false })[0];
      const [loss] = g.apply('softmax_cross_entropy', [logits, labels], {});
      const feeds = new Map([
        [x, f64(uniform(20, 1))],
        [labels, f64(integers(5, 2, 2))],
        [w1, f64(uniform(12, 3))],
        [b1, f64(uniform(3, 4))],
        [w2, f64(uniform(6, 5))],
      ]);
      checkGradients(g, loss, feeds, [w1, b1, w2, x]);
    }
  });

  it('sums gradients at a fan-out and handles batched matmul, sum, expand and mse', () => {
    const g = createGraph();
    const a = g.param('a', [2, 3, 4]);
    const b = g.param('b', [2, 4, 3]);
    const c = g.apply('matmul', [a, b], { transA: false, transB: false })[0];
    const sq = g.apply('mul', [c, c], {})[0]; // fan-out: c used twice
    const s = g.apply('sum', [sq], { axis: 1 })[0];
    const e = g.apply('expand', [s, ], { axis: 0, size: 3 })[0];
    const act = g.apply('activation', [e], { activation: { kind: 'gelu' } })[0];
    const target = g.input('target', act.shape);
    const [loss] = g.apply('mse', [act, target], {});
    const feeds = new Map([
      [a, f64(uniform(24, 6, -0.5, 0.5))],
      [b, f64(uniform(24, 7, -0.5, 0.5))],
      [target, f64(uniform(act.size, 8))],
    ]);
    checkGradients(g, loss, feeds, [a, b]);
  });

  it('differentiates bias_add over NCHW channels and mul_scalar', () => {
    const g = createGraph();
    const x = g.param('x', [2, 3, 2, 2]);
    const bias = g.param('bias', [3]);
    const s = g.param('s', [1]);
    const y = g.apply('bias_add', [x, bias], { axis: 1 })[0];
    const z = g.apply('mul_scalar', [g.apply('activation', [y], { activation: { kind: 'sigmoid' } })[0], s], {})[0];
    const target = g.input('t', z.shape);
    const [loss] = g.apply('mse', [z, target], {});
    const feeds = new Map([
      [x, f64(uniform(24, 9))],
      [bias, f64(uniform(3, 10))],
      [s, f64([1.7])],
      [target, f64(uniform(24, 11))],
    ]);
    checkGradients(g, loss, feeds, [x, bias, s]);
  });

  it('adds no nodes for frozen parameters or detached paths', () => {
    const g = createGraph();
    const x = g.input('x', [4, 3]);
    const frozen = g.param('frozen', [3, 3]);
    const trained = g.param('trained', [3, 2]);
    const h = g.apply('matmul', [x, frozen], { transA: false, transB: false })[0];
    const logits = g.apply('matmul', [h, trained], { transA: false, transB: false })[0];
    const labels = g.input('labels', [4], 'u32');
    const [loss] = g.apply('softmax_cross_entropy', [logits, labels], {});
    const before = g.nodes.length;
    const grads = gradients(g, loss, [trained]);
    // Only dW = hᵀ·dLogits: nothing flows into the frozen layer.
    expect(g.nodes.length - before).toBe(1);
    expect(grads.get(trained)!.shape).toEqual([3, 2]);

    const d = createGraph();
    const p = d.param('p', [2]);
    const stopped = d.apply('stop_gradient', [p], {})[0];
    const target = d.input('t', [2]);
    const [l] = d.apply('mse', [stopped, target], {});
    const zero = gradients(d, l, [p]).get(p)!;
    const env = evaluate(d, new Map([[p, f64([1, 2])], [target, f64([0, 0])]]));
    expect([...env.get(zero)!]).toEqual([0, 0]);
  });

  it('raises shape errors at build time, naming the layer, the shapes and the fix', () => {
    const g = createGraph();
    const x = g.input('x', [128, 785]);
    const w = g.param('fc1.weight', [784, 256]);
    expect(() => g.withLayer('Linear(784→256)', () => g.apply('matmul', [x, w], { transA: false, transB: false }))).toThrow(
      /Linear\(784→256\): matmul: A \[128, 785\] and B \[784, 256\]: inner dimensions 785 and 784 differ/,
    );
    const labels = g.input('labels', [64], 'u32');
    const logits = g.input('logits', [128, 10]);
    expect(() => g.apply('softmax_cross_entropy', [logits, labels], {})).toThrow(ShapeError);
    expect(() => g.apply('bias_add', [logits, g.param('b', [11])], { axis: -1 })).toThrow(/expected \[10\]/);
    expect(() => g.param('b', [3])).toThrow(/used twice/);
  });

  it('refuses to differentiate through a non-differentiable op', () => {
    const g = createGraph();
    const p = g.param('p', [3]);
    const t = g.input('t', [3]);
    const d = g.apply('mse_backward', [p, t], {})[0];
    const [loss] = g.apply('mse', [d, t], {});
    expect(() => gradients(g, loss, [p])).toThrow(/mse_backward is not differentiable/);
  });
});

describe('autodiff through convolutions and pooling', () => {
  const conv = { stride: [2, 1], padding: [1, 0], dilation: [1, 2] } as const;
  it('differentiates conv2d → relu → max/avg pool → linear → softmax cross-entropy', () => {
    const g = createGraph();
    const x = g.param('x', [2, 2, 7, 8]);
    const w = g.param('w', [3, 2, 3, 2]);
    const b = g.param('b', [3]);
    let h = g.apply('conv2d', [x, w], conv)[0]; // [2, 3, 4, 6]
    h = g.apply('bias_add', [h, b], { axis: 1 })[0];
    h = g.apply('activation', [h], { activation: { kind: 'tanh' } })[0];
    const [m] = g.apply('max_pool2d', [h], { kernel: [2, 3], stride: [1, 2], padding: [1, 1], dilation: [1, 1] });
    const avg = g.apply('avg_pool2d', [m], { kernel: [2, 2], stride: [2, 2], padding: [0, 1], countIncludePad: true })[0];
    const flat = g.apply('reshape', [avg], { shape: [2, avg.size / 2] })[0];
    const fc = g.param('fc', [flat.shape[1], 4]);
    const logits = g.apply('matmul', [flat, fc], { transA: false, transB: false })[0];
    const labels = g.input('labels', [2], 'u32');
    const [loss] = g.apply('softmax_cross_entropy', [logits, labels], {});
    const feeds = new Map([
      [x, f64(uniform(x.size, 21))],
      [w, f64(uniform(w.size, 22))],
      [b, f64(uniform(3, 23))],
      [fc, f64(uniform(fc.size, 24))],
      [labels, f64([1, 3])],
    ]);
    checkGradients(g, loss, feeds, [x, w, b, fc]);
  });

  it('differentiates conv_transpose2d and BCE with logits (a DCGAN generator and discriminator head)', () => {
    const g = createGraph();
    const z = g.param('z', [2, 3, 3, 2]);
    const w = g.param('w', [3, 2, 3, 3]); // [Cin, Cout, KH, KW]
    const up = g.apply('conv_transpose2d', [z, w], { stride: [2, 2], padding: [1, 0], dilation: [1, 1], outputPadding: [1, 0] })[0];
    const act = g.apply('activation', [up], { activation: { kind: 'leaky_relu', alpha: 0.2 } })[0];
    const flat = g.apply('reshape', [act], { shape: [act.size] })[0];
    const target = g.input('t', flat.shape);
    const [loss] = g.apply('bce_with_logits', [flat, target], {});
    const feeds = new Map([
      [z, f64(uniform(z.size, 31))],
      [w, f64(uniform(w.size, 32))],
      [target, f64(uniform(flat.size, 33, 0, 1))],
    ]);
    checkGradients(g, loss, feeds, [z, w]);
  });
});

describe('autodiff through a GAN', () => {
  it('differentiates the D step (generator detached) and the G step (through a frozen D)', () => {
    const leaky = { activation: { kind: 'leaky_relu', alpha: 0.2 } } as const;
    const build = (stage: 'D' | 'G') => {
      const g = createGraph();
      const z = g.input('z', [3, 2]);
      const real = g.input('real', [3, 4]);
      const gw1 = g.param('G.0.weight', [5, 2]);
      const gw2 = g.param('G.2.weight', [4, 5]);
      const dw1 = g.param('D.0.weight', [3, 4]);
      const db1 = g.param('D.0.bias', [3]);
      const dw2 = g.param('D.2.weight', [1, 3]);
      const linear = (x: Value, w: Value) => g.apply('matmul', [x, w], { transA: false, transB: true })[0];
      const G = (x: Value) => g.apply('activation', [linear(g.apply('activation', [linear(x, gw1)], leaky)[0], gw2)], { activation: { kind: 'tanh' } })[0];
      const D = (x: Value) => linear(g.apply('activation', [g.apply('bias_add', [linear(x, dw1), db1], { axis: -1 })[0]], leaky)[0], dw2);
      const ones = g.input('ones', [3, 1]);
      const zeros = g.input('zeros', [3, 1]);
      let loss: Value;
      if (stage === 'D') {
        const fake = g.apply('stop_gradient', [G(z)], {})[0];
        const [lr] = g.apply('bce_with_logits', [D(real), ones], {});
        const [lf] = g.apply('bce_with_logits', [D(fake), zeros], {}); // D applied twice: gradients meet
        loss = g.apply('add', [lr, lf], {})[0];
      } else {
        [loss] = g.apply('bce_with_logits', [D(G(z)), ones], {});
      }
      const feeds = new Map<Value, Float64Array>([
        [z, f64(uniform(6, 61))],
        [real, f64(uniform(12, 62))],
        [ones, f64([1, 1, 1])],
        [zeros, f64([0, 0, 0])],
      ]);
      [gw1, gw2, dw1, db1, dw2].forEach((p, i) => feeds.set(p, f64(uniform(p.size, 70 + i))));
      return { g, loss, feeds, G: [gw1, gw2], D: [dw1, db1, dw2] };
    };
    const d = build('D');
    checkGradients(d.g, d.loss, d.feeds, d.D);
    // The detached generator gets exactly zero gradient from the D step.
    const dg = build('D');
    const zero = gradients(dg.g, dg.loss, dg.G);
    const env = evaluate(dg.g, dg.feeds);
    for (const p of dg.G) expect([...env.get(zero.get(p)!)!].every((v) => v === 0)).toBe(true);
    const gStep = build('G');
    checkGradients(gStep.g, gStep.loss, gStep.feeds, gStep.G);
  });
});
