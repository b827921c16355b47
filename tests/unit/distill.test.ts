import { beforeAll, describe, expect, it } from 'vitest';
import { distill } from '../../src/compress/distill.js';
import type { ImageDataset } from '../../src/data/dataset.js';
import { loadMnist } from '../../src/data/idx_files.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { Flatten, Linear, ReLU, Sequential } from '../../src/nn/layers.js';
import { Adam } from '../../src/optim/optimizers.js';
import { Trainer } from '../../src/train/trainer.js';
import { useEngine } from '../helpers/engine.js';

const engine = useEngine();
let train: ImageDataset;
let test: ImageDataset;
let teacher: Trainer;

function head(d: ImageDataset, n: number): ImageDataset {
  return { ...d, count: n, images: d.images.subarray(0, n * d.height * d.width), labels: d.labels.subarray(0, n) };
}

/** 784→16→10 on flat inputs: 12,730 parameters, a quarter of the teacher's. */
const makeStudent = (seed = 5) =>
  new Trainer(engine(), {
    model: new Sequential(new Linear(784, 16), ReLU(), new Linear(16, 10)),
    inputShape: [784],
    classes: 10,
    optimizer: new Adam({ lr: 3e-3 }),
    seed,
  });

beforeAll(async () => {
  const mnist = await loadMnist();
  train = head(mnist.train, 2000);
  test = head(mnist.test, 500);
  // A wider MLP on image-shaped inputs with its own normalisation, so distill has to reshape and
  // renormalise the student's batch for it inside the step. 5 epochs of 40 steps.
  teacher = new Trainer(engine(), {
    model: new Sequential(new Flatten(), new Linear(784, 64), ReLU(), new Linear(64, 10)),
    inputShape: [1, 28, 28],
    classes: 10,
    optimizer: new Adam({ lr: 3e-3 }),
    normalisation: { mean: 0.1307, std: 0.3081 },
    seed: 1,
  });
  await teacher.fit(train, { epochs: 5, batchSize: 50 });
});

describe('distill on real MNIST', () => {
  it('trains a small student from a frozen teacher well above chance; its loss falls', async () => {
    const teacherEval = await teacher.evaluate(test);
    expect(teacherEval.accuracy).toBeGreaterThan(0.8);
    const frozen = await teacher.store.read('3.weight');
    const student = makeStudent();
    const progress: number[] = [];
    const history = await distill(engine(), train, {
      student,
      teacher,
      temperature: 2,
      alpha: 0.5,
      epochs: 3,
      batchSize: 50,
      evaluate: test,
      onProgress: (p) => progress.push(p.loss, p.distillLoss, p.labelLoss, p.accuracy),
      progressEvery: 10,
    });
    expect(history.map((r) => r.epoch)).toEqual([1, 2, 3]);
    const [first, last] = [history[0], history[2]];
    expect(last.loss).toBeLessThan(first.loss);
    expect(last.distillLoss).toBeLessThan(first.distillLoss);
    expect(last.evalAccuracy!).toBeGreaterThan(0.7);
    expect(last.trainAccuracy).toBeGreaterThan(0.7);
    for (const r of history) expect(r.loss).toBeCloseTo(0.5 * r.distillLoss + 0.5 * r.labelLoss, 4);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.every(Number.isFinite)).toBe(true);
    // The teacher runs in the same step but is never updated; its evaluation is unchanged.
    expect(Array.from(await teacher.store.read('3.weight'))).toEqual(Array.from(frozen));
    expect((await teacher.evaluate(test)).accuracy).toBe(teacherEval.accuracy);
    student.dispose();
  });

  it('alpha 1 minimizes the distillation term alone, alpha 0 the labels alone', async () => {
    const small = head(train, 300);
    for (const alpha of [0, 1]) {
      const student = makeStudent(7);
      const [r] = await distill(engine(), small, { student, teacher, temperature: 3, alpha, epochs: 1, batchSize: 50 });
      expect(r.loss).toBeCloseTo(alpha ? r.distillLoss : r.labelLoss, 5);
      expect(r.distillLoss).toBeGreaterThan(0);
      expect(r.labelLoss).toBeGreaterThan(0);
      student.dispose();
    }
  });

  it('rejects bad options before any GPU work', async () => {
    const student = makeStudent();
    const base = { student, teacher, temperature: 2, alpha: 0.5, epochs: 1, batchSize: 50 };
    await expect(distill(engine(), train, { ...base, alpha: 1.5 })).rejects.toThrow(ShapeError);
    await expect(distill(engine(), train, { ...base, alpha: 1.5 })).rejects.toThrow(/alpha 1.5 must be in \[0, 1\]/);
    await expect(distill(engine(), train, { ...base, temperature: 0 })).rejects.toThrow(/temperature 0 must be a finite number > 0/);
    await expect(distill(engine(), train, { ...base, student: teacher })).rejects.toThrow(/two trainers with their own parameters/);
    const wide = new Trainer(engine(), { model: new Sequential(new Linear(784, 12)), inputShape: [784], classes: 12, optimizer: new Adam({ lr: 1e-3 }) });
    await expect(distill(engine(), train, { ...base, student: wide })).rejects.toThrow(/the student has 12 classes and the teacher 10/);
    const narrow = new Trainer(engine(), { model: new Sequential(new Linear(100, 10)), inputShape: [100], classes: 10, optimizer: new Adam({ lr: 1e-3 }) });
    await expect(distill(engine(), train, { ...base, student: narrow })).rejects.toThrow(/the student: dataset images are 28×28 = 784 pixels, but the model takes \[100\] = 100/);
    for (const t of [student, wide, narrow]) t.dispose();
  });

  it('leaves no buffers alive', () => {
    teacher.dispose();
    expect(engine().stats.liveBuffers).toBe(0);
  });
});
