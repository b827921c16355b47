import { describe, expect, it } from 'vitest';
import { softmaxCrossEntropy } from '../../src/eager/softmax_cross_entropy.js';
import { tensor } from '../../src/eager/tensor.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { gradients } from '../../src/graph/autodiff.js';
import { compileStep } from '../../src/graph/compile.js';
import { createGraph } from '../../src/graph/graph.js';
import type { Value } from '../../src/graph/ir.js';
import { ParameterStore } from '../../src/graph/params.js';
import { Linear } from '../../src/nn/layers.js';
import { SGD } from '../../src/optim/optimizers.js';
import { evaluate } from '../reference/graph.js';
import { crossEntropyUsesBatchKernel, softmaxCrossEntropyProgram } from '../../src/kernels/softmax_cross_entropy.js';
import { useEngine } from '../helpers/engine.js';
import { expectClose, numericGradient } from '../helpers/compare.js';
import { integers, rng, uniform } from '../helpers/random.js';
import { expectSameSpecials } from '../helpers/specials.js';
import { countCorrect, countInvalid, crossEntropy, crossEntropyGrad } from '../reference/softmax_cross_entropy.js';

const engine = useEngine();
const IGNORE = 255;

/**
 * Labels for [batch, classes]: in range, except (when `mixed`) about a quarter IGNORE and an eighth
 * invalid (classes + 3), with the first row always kept so the mean is defined.
 */
function makeLabels(batch: number, classes: number, seed: number, mixed: boolean): Uint32Array {
  const labels = integers(batch, classes, seed);
  if (!mixed) return labels;
  const next = rng(seed + 1);
  for (let b = 1; b < batch; b++) {
    const u = next();
    if (u < 0.25) labels[b] = IGNORE;
    else if (u < 0.375) labels[b] = classes + 3;
  }
  return labels;
}

/** d mean-loss / d logits by central differences: over all logits for small inputs, else row by row (rows are independent given the kept count). */
function numericDLogits(x: Float32Array, labels: Uint32Array, classes: number, ignoreIndex?: number): Float64Array {
  if (x.length <= 400) return numericGradient((v) => crossEntropy(v, labels, classes, ignoreIndex), x);
  const kept = labels.length - countInvalid(labels, classes, ignoreIndex) - labels.filter((l) => l === ignoreIndex).length;
  const out = new Float64Array(x.length);
  labels.forEach((label, b) => {
    if (label >= classes || label === ignoreIndex) return;
    const row = x.subarray(b * classes, (b + 1) * classes);
    out.set(numericGradient((v) => crossEntropy(v, [label], classes) / kept, row), b * classes);
  });
  return out;
}

async function run(x: Float32Array, labels: Uint32Array, shape: [number, number], options: Parameters<typeof softmaxCrossEntropy>[2]) {
  const xt = tensor(engine(), x, shape);
  const lt = tensor(engine(), labels, [shape[0]], 'u32');
  const r = softmaxCrossEntropy(xt, lt, { countCorrect: true, countInvalid: true, ...options });
  const out = { loss: await r.loss.read(), dLogits: await r.dLogits.read(), correct: await r.correct!.read(), invalid: await r.invalid!.read() };
  for (const t of [xt, lt, r.loss, r.dLogits, r.correct!, r.invalid!]) t.dispose();
  return out;
}

describe('softmax cross-entropy', () => {
  // [1100, 3] exceeds one workgroup's batch, so the 'thread' variant also runs the per-row kernel
  // with separate sums; smaller 'thread' batches take the one-workgroup batch kernel; 'workgroup'
  // is the cooperative per-row kernel. 1 class, 1 row, and class counts off multiples of 64 included.
  const shapes: [number, number][] = [[1, 1], [1, 10], [3, 10], [33, 7], [9, 1], [7, 257], [2, 1000], [127, 3], [5, 70], [1100, 3]];

  it('the shapes cover the one-workgroup batch kernel, the per-row kernel and the cooperative kernel', () => {
    const kinds = new Set<string>();
    for (const variant of ['thread', 'workgroup'] as const) {
      for (const [b, c] of shapes) {
        const program = softmaxCrossEntropyProgram(b, c, { countCorrect: true, countInvalid: true, variant });
        const cooperative = program.launches.some((l) => /row_scratch/.test(l.spec.code));
        expect(crossEntropyUsesBatchKernel(b, c, variant)).toBe(program.name === 'softmax_cross_entropy_batch');
        kinds.add(program.name === 'softmax_cross_entropy_batch' ? 'batch' : cooperative ? 'cooperative' : 'row');
      }
    }
    expect([...kinds].sort()).toEqual(['batch', 'cooperative', 'row']);
  });

  for (const variant of ['thread', 'workgroup'] as const) {
    for (const mixed of [false, true]) {
      const labelsDesc = mixed ? `ignoreIndex ${IGNORE} and invalid labels` : 'labels in range';
      it(`${variant}, ${labelsDesc}: loss, dLogits, correct and invalid counts match float64 and finite differences`, async () => {
        for (const [batch, classes] of shapes) {
          const x = uniform(batch * classes, batch + classes, -4, 4);
          const labels = makeLabels(batch, classes, batch * classes, mixed);
          const ignoreIndex = mixed ? IGNORE : undefined;
          const got = await run(x, labels, [batch, classes], { variant, ignoreIndex });
          const what = `${variant} [${batch}, ${classes}]`;
          expectClose(got.loss, [crossEntropy(x, labels, classes, ignoreIndex)], { atol: 1e-6, rtol: 1e-5 }, `${what} loss`);
          expectClose(got.dLogits, numericDLogits(x, labels, classes, ignoreIndex), { atol: 1e-6, rtol: 1e-4 }, `${what} dLogits`);
          expect(Array.from(got.correct), `${what} correct`).toEqual([countCorrect(x, labels, classes, ignoreIndex)]);
          expect(Array.from(got.invalid), `${what} invalid`).toEqual([countInvalid(labels, classes, ignoreIndex)]);
        }
      });
    }

    it(`${variant}: ignored rows are left out of the mean (PyTorch's ignore_index), any class can be the ignore index`, async () => {
      const classes = 5;
      const x = uniform(4 * classes, 11, -3, 3);
      // Row 1 is labelled with class 2, the ignore index: it must not count, though 2 is a real class.
      const labels = Uint32Array.of(0, 2, 4, 1);
      const got = await run(x, labels, [4, classes], { variant, ignoreIndex: 2 });
      const keptRows = [0, 2, 3].map((b) => crossEntropy(x.subarray(b * classes, (b + 1) * classes), [labels[b]], classes));
      expectClose(got.loss, [(keptRows[0] + keptRows[1] + keptRows[2]) / 3], { atol: 1e-6, rtol: 1e-5 });
      expect(got.dLogits.slice(classes, 2 * classes).every((v) => v === 0)).toBe(true);
      expect(Array.from(got.invalid)).toEqual([0]);
    });

    it(`${variant}: ties go to the first maximum; an invalid label adds nothing and is counted`, async () => {
      const classes = 5;
      // Rows: max tied at 1 and 3 with label 1 (correct) / label 3 (wrong); a plain hit; an invalid row.
      const x = Float32Array.from([0, 2, 1, 2, -1, 0, 2, 1, 2, -1, 3, 0, 0, 0, 0, 1, 2, 3, 4, 5]);
      const labels = Uint32Array.of(1, 3, 0, 7);
      const got = await run(x, labels, [4, classes], { variant });
      expect(Array.from(got.correct)).toEqual([2]);
      expect(Array.from(got.invalid)).toEqual([1]);
      expectClose(got.loss, [crossEntropy(x, labels, classes)], { atol: 1e-6, rtol: 1e-5 });
      expect(got.dLogits.slice(15).every((v) => v === 0)).toBe(true);
    });

    it(`${variant}: no row kept gives a NaN loss and zero gradients, as PyTorch`, async () => {
      for (const [batch, classes] of [[1, 4], [6, 3], [1100, 3], [3, 300]] as [number, number][]) {
        const x = uniform(batch * classes, 5, -2, 2);
        const labels = new Uint32Array(batch).map((_, b) => (b % 2 ? IGNORE : classes));
        const got = await run(x, labels, [batch, classes], { variant, ignoreIndex: IGNORE });
        expect(Number.isNaN(got.loss[0]), `[${batch}, ${classes}] loss ${got.loss[0]}`).toBe(true);
        expect(got.dLogits.every((v) => v === 0)).toBe(true);
        expect(Array.from(got.correct)).toEqual([0]);
        expect(Array.from(got.invalid)).toEqual([Math.floor(batch / 2) + (batch % 2)]);
      }
    });
  }

  describe('NaN and infinities in the logits, as PyTorch', () => {
    // Rows, labels and what torch 1.13 prints for F.cross_entropy on each single row: loss, gradient.
    const torchRows: [number[], number, number, number[]][] = [
      [[NaN, 1, 2], 0, NaN, [NaN, NaN, NaN]],
      [[NaN, 1, 2], 1, NaN, [NaN, NaN, NaN]],
      [[Infinity, 1, 2], 0, NaN, [NaN, NaN, NaN]],
      [[Infinity, 1, 2], 1, NaN, [NaN, NaN, NaN]],
      [[-Infinity, 1, 2], 0, Infinity, [-1, 0.2689414322376251, 0.7310585975646973]],
      [[-Infinity, 1, 2], 1, 1.31326162815094, [0, -0.7310585975646973, 0.7310585975646973]],
      [[-Infinity, -Infinity, -Infinity], 1, NaN, [NaN, NaN, NaN]],
    ];
    for (const variant of ['thread', 'workgroup'] as const) {
      it(`${variant}: single rows match PyTorch`, async () => {
        for (const [row, label, loss, grad] of torchRows) {
          const got = await run(Float32Array.from(row), Uint32Array.of(label), [1, 3], { variant });
          expectSameSpecials(got.loss, [loss], { atol: 1e-6, rtol: 1e-6 }, `[${row}] label ${label} loss`);
          expectSameSpecials(got.dLogits, grad, { atol: 1e-6, rtol: 1e-6 }, `[${row}] label ${label} dLogits`);
        }
      });
    }

    // A poisoned row makes the mean NaN when kept; ignored, it adds nothing to the loss but its
    // gradient is still NaN (torch: [[nan, 1, 2], [0, 1, 2], [inf, 0, 0]] with labels [-100, 1, -100]).
    it('ignored rows with NaN logits keep the loss finite and get NaN gradients', async () => {
      for (const variant of ['thread', 'workgroup'] as const) {
        const got = await run(Float32Array.of(NaN, 1, 2, 0, 1, 2, Infinity, 0, 0), Uint32Array.of(IGNORE, 1, IGNORE), [3, 3], { variant, ignoreIndex: IGNORE });
        expectSameSpecials(got.loss, [1.4076058864593506], { atol: 1e-6, rtol: 1e-6 }, `${variant} loss`);
        expectSameSpecials(got.dLogits, [NaN, NaN, NaN, 0.09003058075904846, -0.7552714943885803, 0.665241003036499, NaN, NaN, NaN], { atol: 1e-6, rtol: 1e-5 }, `${variant} dLogits`);
      }
    });

    // Every kernel path: the batch kernel (33 rows), the per-row kernel (1100 rows), the cooperative one.
    for (const [variant, batch, classes] of [['thread', 33, 7], ['thread', 1100, 3], ['workgroup', 9, 70]] as const) {
      it(`${variant} [${batch}, ${classes}]: loss, gradient and argmax rule (NaN first) match float64`, async () => {
        const x = uniform(batch * classes, 17, -3, 3);
        const specials = [NaN, Infinity, -Infinity];
        for (let i = 0; i < x.length; i += 29) x[i] = specials[(i / 29) % 3];
        for (const mixed of [false, true]) {
          const labels = makeLabels(batch, classes, 23, mixed);
          const ignoreIndex = mixed ? IGNORE : undefined;
          // Kept rows with NaN make the mean NaN; compare the mean over the finite rows too, by ignoring the others.
          const finiteOnly = Uint32Array.from(labels, (l, b) => (crossEntropy(x.subarray(b * classes, (b + 1) * classes), [0], classes) < Infinity ? l : IGNORE));
          for (const l of [labels, finiteOnly]) {
            const ig = l === finiteOnly ? IGNORE : ignoreIndex;
            const got = await run(x, l, [batch, classes], { variant, ignoreIndex: ig });
            const what = `${variant} [${batch}, ${classes}]${l === finiteOnly ? ' finite rows' : ''}`;
            expectSameSpecials(got.loss, [crossEntropy(x, l, classes, ig)], { atol: 1e-5, rtol: 1e-5 }, `${what} loss`);
            expectSameSpecials(got.dLogits, crossEntropyGrad(x, l, classes, ig), { atol: 1e-6, rtol: 1e-4 }, `${what} dLogits`);
            expect(Array.from(got.correct), `${what} correct`).toEqual([countCorrect(x, l, classes, ig)]);
          }
        }
      });
    }
  });

  it('omits the correct and invalid counts unless asked', async () => {
    const xt = tensor(engine(), uniform(20, 3), [2, 10]);
    const lt = tensor(engine(), [3, 9], [2], 'u32');
    const result = softmaxCrossEntropy(xt, lt);
    expect(result.correct).toBeUndefined();
    expect(result.invalid).toBeUndefined();
    expect((await result.loss.read()).length).toBe(1);
    const onlyInvalid = softmaxCrossEntropy(xt, lt, { countInvalid: true });
    expect(Array.from(await onlyInvalid.invalid!.read())).toEqual([0]);
    for (const t of [xt, lt, result.loss, result.dLogits, onlyInvalid.loss, onlyInvalid.dLogits, onlyInvalid.invalid!]) t.dispose();
  });

  it('rejects labels that do not match the batch, and a bad ignoreIndex, before touching the GPU', () => {
    const xt = tensor(engine(), uniform(20, 3), [2, 10]);
    const lt = tensor(engine(), [1, 2, 3], [3], 'u32');
    const lf = tensor(engine(), [1, 2], [2]);
    const l2 = tensor(engine(), [1, 2], [2], 'u32');
    expect(() => softmaxCrossEntropy(xt, lt)).toThrow(ShapeError);
    expect(() => softmaxCrossEntropy(xt, lt)).toThrow(/softmax_cross_entropy: labels \[3\] \(u32\) must be u32 class indices of shape \[2\] to match logits \[2, 10\]/);
    expect(() => softmaxCrossEntropy(xt, lf)).toThrow(/labels \[2\] \(f32\) must be u32 class indices/);
    for (const bad of [-100, 1.5, NaN, 2 ** 32]) {
      expect(() => softmaxCrossEntropy(xt, l2, { ignoreIndex: bad })).toThrow(ShapeError);
      expect(() => softmaxCrossEntropy(xt, l2, { ignoreIndex: bad })).toThrow(new RegExp(`ignoreIndex ${bad} must be an integer in \\[0, 4294967295\\]`));
    }
    for (const t of [xt, lt, lf, l2]) t.dispose();
  });

  // 70 rows of 3 classes: the batch kernel; 1100 rows: the label count, per-row kernel and sums.
  for (const batch of [70, 1100]) {
    it(`graph op with ignoreIndex, [${batch}, 3]: outputs (loss, dLogits, correct, invalid) and the SGD update match the float64 interpreter`, async () => {
      const [features, classes] = [4, 3];
      const store = new ParameterStore(engine(), { seed: 3 });
      const model = new Linear(features, classes);
      model.register(store);
      const build = (g: ReturnType<typeof createGraph>, x: Value, labels: Value) => {
        const [loss, , correct, invalid] = g.apply('softmax_cross_entropy', [model.apply(g, x, { store, training: true }), labels], { ignoreIndex: IGNORE });
        return { loss, correct, invalid };
      };
      const step = await compileStep(engine(), {
        inputs: { x: { shape: [batch, features] }, labels: { shape: [batch], dtype: 'u32' } },
        stores: [store],
        build: (g, { x, labels }) => {
          const out = build(g, x, labels);
          return { outputs: out, minimize: { loss: out.loss, store, optimizer: new SGD({ lr: 1 }) } };
        },
      });
      const x = uniform(batch * features, 8, -2, 2);
      const labels = makeLabels(batch, classes, 9, true);
      const before = new Map<string, Float32Array>();
      for (const p of store.list) before.set(p.name, await store.read(p.name));
      step.run({ x, labels });

      const g = createGraph();
      const xv = g.input('x', [batch, features]);
      const lv = g.input('labels', [batch], 'u32');
      const out = build(g, xv, lv);
      const grads = gradients(g, out.loss, g.params);
      const feeds = new Map<Value, Float64Array>([[xv, Float64Array.from(x)], [lv, Float64Array.from(labels)]]);
      for (const p of g.params) feeds.set(p, Float64Array.from(before.get(p.name)!));
      const env = evaluate(g, feeds);
      expectClose(await step.read('loss'), env.get(out.loss)!, { atol: 1e-6, rtol: 1e-5 }, 'loss');
      expect(Array.from(await step.read('correct'))).toEqual(Array.from(env.get(out.correct)!));
      expect(Array.from(await step.read('invalid'))).toEqual([countInvalid(labels, classes, IGNORE)]);
      expect(countInvalid(labels, classes, IGNORE)).toBeGreaterThan(0);
      for (const p of g.params) {
        const expected = before.get(p.name)!.map((v, i) => v - env.get(grads.get(p)!)![i]);
        expectClose(await store.read(p.name), expected, { atol: 1e-6, rtol: 1e-5 }, p.name);
      }
      step.dispose();
      store.dispose();
    });
  }

  it('the graph op refuses a bad ignoreIndex when the graph is built', () => {
    const g = createGraph();
    const logits = g.input('logits', [2, 3]);
    const labels = g.input('labels', [2], 'u32');
    expect(() => g.apply('softmax_cross_entropy', [logits, labels], { ignoreIndex: -100 })).toThrow(ShapeError);
    expect(() => g.apply('softmax_cross_entropy', [logits, labels], { ignoreIndex: -100 })).toThrow(/ignoreIndex -100 must be an integer/);
  });

  it('leaves no buffers alive', () => {
    expect(engine().stats.liveBuffers).toBe(0);
  });
});
