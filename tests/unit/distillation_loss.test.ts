import { describe, expect, it } from 'vitest';
import { compileStep } from '../../src/graph/compile.js';
import { createGraph } from '../../src/graph/graph.js';
import { ParameterStore } from '../../src/graph/params.js';
import { launch, tensor } from '../../src/eager/tensor.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { checkDistillationShapes, distillationLossProgram } from '../../src/kernels/distillation_loss.js';
import { Linear } from '../../src/nn/layers.js';
import { SGD } from '../../src/optim/optimizers.js';
import { useEngine } from '../helpers/engine.js';
import { expectClose, numericGradient } from '../helpers/compare.js';
import { uniform } from '../helpers/random.js';
import { distillationLoss, distillationLossGrad } from '../reference/distillation_loss.js';

const engine = useEngine();

/** Runs the kernel program on the GPU; returns [loss, dStudent]. */
async function run(s: Float32Array, t: Float32Array, batch: number, classes: number, temperature: number, variant: 'thread' | 'workgroup') {
  const st = tensor(engine(), s, [batch, classes]);
  const tt = tensor(engine(), t, [batch, classes]);
  const [loss, ds] = launch(distillationLossProgram(batch, classes, temperature, variant), [st, tt], [{ shape: [1] }, { shape: [batch, classes] }]);
  const out = [(await loss.read()) as Float32Array, (await ds.read()) as Float32Array];
  for (const x of [st, tt, loss, ds]) x.dispose();
  return out;
}

describe('distillation loss kernel', () => {
  const shapes: [number, number][] = [];
  for (const b of [1, 3, 33]) for (const c of [1, 2, 10, 257]) shapes.push([b, c]);
  for (const variant of ['thread', 'workgroup'] as const) {
    it(`${variant}: loss and dStudent match float64, and finite differences of the float64 loss`, async () => {
      for (const temperature of [1, 4]) {
        for (const [batch, classes] of shapes) {
          const seed = batch * 1000 + classes + temperature;
          const s = uniform(batch * classes, seed, -5, 5);
          const t = uniform(batch * classes, seed + 1, -5, 5);
          const [loss, ds] = await run(s, t, batch, classes, temperature, variant);
          const what = `${variant} [${batch}, ${classes}] T=${temperature}`;
          // f32 log-softmax terms carry ~1e-7 relative error each; T² scales the loss.
          expectClose(loss, [distillationLoss(s, t, classes, temperature)], { atol: 2e-6 * temperature * temperature, rtol: 1e-4 }, `${what} loss`);
          expectClose(ds, distillationLossGrad(s, t, classes, temperature), { atol: 1e-7, rtol: 1e-4 }, `${what} dStudent`);
          // Row b's logits affect only row b's term of the mean, so finite differences go row by
          // row: the first, a middle and the last row (all rows cost seconds on two cores).
          for (const b of new Set([0, batch >> 1, batch - 1])) {
            const row = (x: Float32Array) => x.subarray(b * classes, (b + 1) * classes);
            const numeric = numericGradient((v) => distillationLoss(v, row(t), classes, temperature) / batch, row(s));
            expectClose(row(ds), numeric, { atol: 1e-6, rtol: 1e-4 }, `${what} dStudent row ${b} vs finite differences`);
          }
        }
      }
    });
  }

  it('stays finite and accurate on logits of magnitude 80 (T = 1 and 4)', async () => {
    for (const variant of ['thread', 'workgroup'] as const) {
      for (const temperature of [1, 4]) {
        const [batch, classes] = [3, 10];
        const s = uniform(batch * classes, 11, -80, 80);
        const t = uniform(batch * classes, 12, -80, 80);
        // Rows of ties and of equal logits: KL 0 and dS 0 whatever the magnitude.
        s.fill(80, 0, classes);
        t.fill(80, 0, classes);
        const [loss, ds] = await run(s, t, batch, classes, temperature, variant);
        expect(Number.isFinite(loss[0])).toBe(true);
        expect(ds.every(Number.isFinite)).toBe(true);
        const what = `${variant} ±80 T=${temperature}`;
        // exp(±160) would overflow f32 without the max subtraction; relative error grows with |s/T|.
        expectClose(loss, [distillationLoss(s, t, classes, temperature)], { atol: 1e-4, rtol: 1e-5 * 80 }, `${what} loss`);
        expectClose(ds, distillationLossGrad(s, t, classes, temperature), { atol: 1e-6, rtol: 1e-4 }, `${what} dStudent`);
        expect(Array.from(ds.subarray(0, classes)), `${what} tied row`).toEqual(new Array(classes).fill(0));
      }
    }
  });

  it('splits large batches into per-row KLs and a deterministic sum', async () => {
    const [batch, classes, temperature] = [1100, 3, 2];
    const s = uniform(batch * classes, 21, -3, 3);
    const t = uniform(batch * classes, 22, -3, 3);
    expect(distillationLossProgram(batch, classes, temperature, 'thread').launches.length).toBeGreaterThan(1);
    const [loss, ds] = await run(s, t, batch, classes, temperature, 'thread');
    expectClose(loss, [distillationLoss(s, t, classes, temperature)], { atol: 1e-6, rtol: 1e-4 }, 'loss');
    expectClose(ds, distillationLossGrad(s, t, classes, temperature), { atol: 1e-8, rtol: 1e-4 }, 'dStudent');
  });
});

describe('distillation_loss in a compiled step', () => {
  it('an SGD step of a Linear student equals the float64 update; the teacher stays frozen', async () => {
    const [batch, inF, classes, temperature, lr, weight] = [5, 6, 4, 3, 0.5, 0.7];
    const student = new Linear(inF, classes);
    const teacher = new Linear(inF, classes);
    const studentStore = new ParameterStore(engine(), { seed: 1 });
    const teacherStore = new ParameterStore(engine(), { seed: 2 });
    student.register(studentStore);
    teacher.register(teacherStore, 'teacher');
    const step = await compileStep(engine(), {
      inputs: { x: { shape: [batch, inF] } },
      stores: [studentStore, teacherStore],
      build: (g, { x }) => {
        const s = student.apply(g, x, { store: studentStore, training: true });
        const t = teacher.apply(g, x, { store: teacherStore, training: false });
        const [kd] = g.apply('distillation_loss', [s, t], { temperature });
        // A weighted term, so the upstream gradient is a value, not the implicit 1.
        const [loss] = g.apply('scale', [kd], { scale: weight, shift: 0 });
        return { outputs: { loss }, minimize: { loss, store: studentStore, optimizer: new SGD({ lr }) } };
      },
    });
    const x = uniform(batch * inF, 5, -2, 2);
    const [w, b, tw, tb] = [
      await studentStore.read('weight'),
      await studentStore.read('bias'),
      await teacherStore.read('teacher.weight'),
      await teacherStore.read('teacher.bias'),
    ];
    const linear = (W: ArrayLike<number>, B: ArrayLike<number>) => {
      const y = new Float64Array(batch * classes);
      for (let r = 0; r < batch; r++)
        for (let o = 0; o < classes; o++) {
          let acc = B[o];
          for (let i = 0; i < inF; i++) acc += x[r * inF + i] * W[o * inF + i];
          y[r * classes + o] = acc;
        }
      return y;
    };
    const s = linear(w, b);
    const t = linear(tw, tb);
    step.run({ x });
    expectClose(await step.read('loss'), [weight * distillationLoss(s, t, classes, temperature)], { atol: 1e-6, rtol: 1e-4 }, 'loss');

    // dW = dSᵀ·x and db = Σ_rows dS, dS = weight · T (q − p) / B.
    const ds = distillationLossGrad(s, t, classes, temperature).map((v) => v * weight);
    const wantW = Float64Array.from(w);
    const wantB = Float64Array.from(b);
    for (let r = 0; r < batch; r++)
      for (let o = 0; o < classes; o++) {
        wantB[o] -= lr * ds[r * classes + o];
        for (let i = 0; i < inF; i++) wantW[o * inF + i] -= lr * ds[r * classes + o] * x[r * inF + i];
      }
    expectClose(await studentStore.read('weight'), wantW, { atol: 1e-6, rtol: 1e-5 }, 'student weight');
    expectClose(await studentStore.read('bias'), wantB, { atol: 1e-6, rtol: 1e-5 }, 'student bias');
    expect(Array.from(await teacherStore.read('teacher.weight'))).toEqual(Array.from(tw));
    expect(Array.from(await teacherStore.read('teacher.bias'))).toEqual(Array.from(tb));
    step.dispose();
    studentStore.dispose();
    teacherStore.dispose();
  });

  it('refuses to differentiate through the teacher logits, naming the fix', async () => {
    const store = new ParameterStore(engine(), { seed: 3 });
    const a = new Linear(3, 2);
    const b = new Linear(3, 2);
    a.register(store, 'a');
    b.register(store, 'b');
    const trace = (detach: boolean) =>
      compileStep(engine(), {
        inputs: { x: { shape: [2, 3] } },
        stores: [store],
        build: (g, { x }) => {
          const s = a.apply(g, x, { store, training: true });
          let t = b.apply(g, x, { store, training: true });
          if (detach) t = g.apply('stop_gradient', [t], {})[0];
          const [loss] = g.apply('distillation_loss', [s, t], { temperature: 2 });
          return { outputs: { loss }, minimize: { loss, store, optimizer: new SGD({ lr: 0.1 }) } };
        },
      });
    await expect(trace(false)).rejects.toThrow(ShapeError);
    await expect(trace(false)).rejects.toThrow(/distillation_loss: .*teacher logits .*detach the teacher logits/);
    const ok = await trace(true);
    ok.run({ x: uniform(6, 4) });
    expect(Number.isFinite((await ok.read('loss'))[0])).toBe(true);
    ok.dispose();
    store.dispose();
  });

  it('rejects bad shapes and temperatures when the graph is built', () => {
    const g = createGraph();
    const s = g.input('s', [3, 10]);
    const apply = (t: ReturnType<typeof g.input>, temperature = 2) => () => g.apply('distillation_loss', [s, t], { temperature });
    expect(apply(g.input('t1', [3, 9]))).toThrow(ShapeError);
    expect(apply(g.input('t2', [3, 9]))).toThrow(/distillation_loss: student logits \[3, 10\] and teacher logits \[3, 9\] differ; .*same batch and classes/);
    expect(apply(g.input('t3', [4, 10]))).toThrow(/teacher logits \[4, 10\] differ/);
    const t = g.input('t', [3, 10]);
    for (const bad of [0, -1, Infinity, NaN]) {
      expect(apply(t, bad)).toThrow(new RegExp(`student logits \\[3, 10\\], teacher logits \\[3, 10\\]: temperature ${bad} must be a finite number > 0`));
    }
    const s3 = g.input('s3', [3, 10, 1]);
    expect(() => g.apply('distillation_loss', [s3, s3], { temperature: 1 })).toThrow(/student logits \[3, 10, 1\] must be \[batch, classes\]; flatten/);
    const labels = g.input('labels', [3, 10], 'u32');
    expect(() => g.apply('distillation_loss', [s, labels], { temperature: 1 })).toThrow(/teacher logits must be f32, got u32/);
    expect(() => checkDistillationShapes([2, 5], [2, 5], 0)).toThrow(ShapeError);
    expect(() => distillationLossProgram(2, 5, -3)).toThrow(/temperature -3 must be a finite number > 0/);
  });

  it('leaves no buffers alive', () => {
    expect(engine().stats.liveBuffers).toBe(0);
  });
});
