import { describe, expect, it } from 'vitest';
import { DatasetError } from '../../src/data/idx.js';
import { tensorDataset } from '../../src/data/tensor_dataset.js';
import { DisposedError, ShapeError } from '../../src/gpu/errors.js';
import { Embedding } from '../../src/nn/embedding.js';
import { Flatten, Linear, ReLU, Sequential } from '../../src/nn/layers.js';
import { Adam } from '../../src/optim/optimizers.js';
import { multiLabelEvaluation, regressionEvaluation } from '../../src/train/task_metrics.js';
import { Trainer } from '../../src/train/trainer.js';
import { useEngine } from '../helpers/engine.js';
import { rng, uniform } from '../helpers/random.js';

const engine = useEngine();

/** y = X·W + b for X [n, 4] uniform in [−1, 1], W [4, 2], b [2]. */
function linearData(n: number, seed: number) {
  const x = uniform(n * 4, seed);
  const w = [0.5, -1.5, 2, 0.25, -0.75, 1, 1.25, -2];
  const b = [0.3, -0.6];
  const y = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) for (let k = 0; k < 2; k++) y[i * 2 + k] = b[k] + [0, 1, 2, 3].reduce((s, j) => s + x[i * 4 + j] * w[j * 2 + k], 0);
  return tensorDataset(x, y, { featureShape: [4], task: 'regression' });
}

describe('Trainer tasks', () => {
  it('fits a regression y = Xw + b to R² > 0.99 on held-out data, with MSE, R² and MAE from evaluate', async () => {
    const trainer = new Trainer(engine(), { model: new Sequential(new Linear(4, 2)), inputShape: [4], optimizer: new Adam({ lr: 0.05 }), seed: 3 });
    try {
      const train = linearData(320, 1);
      const test = linearData(100, 2);
      const before = await trainer.evaluate(test);
      const history = await trainer.fit(train, { epochs: 25, batchSize: 32, evaluate: test });
      expect(Number.isNaN(history[0].trainAccuracy)).toBe(true);
      expect(history.at(-1)!.loss).toBeLessThan(history[0].loss);
      const e = await trainer.evaluate(test);
      expect(e.task).toBe('regression');
      expect(e.r2).toBeGreaterThan(0.99);
      expect(before.r2).toBeLessThan(0.5);
      expect(e.perOutput).toHaveLength(2);
      expect(e.mae).toBeLessThan(0.1);
      expect(history.at(-1)!.evaluation).toEqual(e);
      expect(history.at(-1)!.evalLoss).toBe(e.loss);
      // The evaluation is the float64 score of exactly what the predictor outputs.
      const p = trainer.predictor();
      const outputs = await p.predict(test.features as Float32Array);
      expect(regressionEvaluation(outputs, test.targets, 2)).toEqual(e);
      // Profiling runs the same step, fed by the tensor gather.
      const timings = await trainer.profile(train, { batchSize: 16, warmup: 1 });
      expect(timings[0].name).toBe('gather_rows');
      expect(timings.map((t) => t.name).join(' ')).toMatch(/matmul.*mse.*adam/);
    } finally {
      trainer.dispose();
    }
  });

  it('fits a separable multi-label set (label j is x_j > 0) with BCE, scored by subset accuracy and mean F1', async () => {
    const make = (n: number, seed: number) => {
      const x = uniform(n * 4, seed);
      const flags = Uint8Array.from({ length: n * 3 }, (_, i) => (x[Math.floor(i / 3) * 4 + (i % 3)] > 0 ? 1 : 0));
      return tensorDataset(x, flags, { featureShape: [4], task: 'multilabel' });
    };
    const trainer = new Trainer(engine(), { model: new Sequential(new Linear(4, 16), ReLU(), new Linear(16, 3)), inputShape: [4], optimizer: new Adam({ lr: 0.02 }), seed: 5 });
    try {
      const history = await trainer.fit(make(400, 7), { epochs: 30, batchSize: 40 });
      expect(history.at(-1)!.loss).toBeLessThan(0.5 * history[0].loss);
      const e = await trainer.evaluate(make(200, 8));
      expect(e.task).toBe('multilabel');
      expect(e.subsetAccuracy).toBeGreaterThan(0.85);
      expect(e.labelAccuracy).toBeGreaterThan(0.95);
      expect(e.meanF1).toBeGreaterThan(0.95);
      expect(e.perLabel.map((l) => l.support).reduce((a, b) => a + b, 0)).toBeGreaterThan(200); // about half of 600 flags
    } finally {
      trainer.dispose();
    }
  });

  it('classifies Float32 features (three blobs) without a class count given, and as Uint8 features', async () => {
    const next = rng(11);
    const centres = [
      [1, 1],
      [-1, 1],
      [0, -1],
    ];
    const n = 300;
    const x = new Float32Array(n * 2);
    const y = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      y[i] = i % 3;
      for (let j = 0; j < 2; j++) x[i * 2 + j] = centres[y[i]][j] + 0.35 * (next() + next() - 1);
    }
    const data = tensorDataset(x, y, { featureShape: [2] });
    const trainer = new Trainer(engine(), { model: new Sequential(new Linear(2, 16), ReLU(), new Linear(16, 3)), inputShape: [2], optimizer: new Adam({ lr: 0.02 }), seed: 2 });
    try {
      const history = await trainer.fit(data, { epochs: 10, batchSize: 30, evaluate: data });
      expect(history.at(-1)!.trainAccuracy).toBeGreaterThan(0.95);
      expect(history.at(-1)!.evalAccuracy).toBeGreaterThan(0.95);
      const e = await trainer.evaluate(data);
      expect(e.task).toBe('classification');
      expect(e.confusion.flat().reduce((a, b) => a + b, 0)).toBe(n);
      expect(trainer.classes).toBe(3);
      // Rows labelled with the dataset's ignoreIndex count nowhere, once the trainer is told of it.
      const marked = Uint32Array.from(y, (l, i) => (i % 10 === 0 ? 255 : l));
      const withIgnored = tensorDataset(x, marked, { featureShape: [2], ignoreIndex: 255 });
      await expect(trainer.evaluate(withIgnored)).rejects.toThrow(/leaves out rows labelled 255 \(its ignoreIndex\), but the trainer's ignoreIndex is not set; give the Trainer ignoreIndex: 255/);
      const ignoring = new Trainer(engine(), { ...trainer.options, ignoreIndex: 255 });
      try {
        ignoring.load(await trainer.checkpoint());
        const kept = await ignoring.evaluate(withIgnored);
        expect(kept.confusion.flat().reduce((a, b) => a + b, 0)).toBe(n - 30);
      } finally {
        ignoring.dispose();
      }
      // The same points as bytes: (byte/255 − 0.5)/0.25 maps 0…255 onto [−2, 2].
      const bytes = Uint8Array.from(x, (v) => Math.round(((v + 2) / 4) * 255));
      const asBytes = tensorDataset(bytes, y, { featureShape: [2], normalisation: { mean: 0.5, std: 0.25 } });
      expect((await trainer.evaluate(asBytes)).accuracy).toBeGreaterThan(0.93);
    } finally {
      trainer.dispose();
    }
  });

  it('trains on Uint32 ids through an Embedding and predicts from ids', async () => {
    const ids = Uint32Array.from({ length: 240 }, (_, i) => (i * 7) % 12);
    const data = tensorDataset(ids, Uint32Array.from(ids, (v) => v % 3), { featureShape: [1] });
    const trainer = new Trainer(engine(), { model: new Sequential(new Embedding(12, 6), new Flatten(), new Linear(6, 3)), inputShape: [1], optimizer: new Adam({ lr: 0.05 }), seed: 8 });
    try {
      await trainer.fit(data, { epochs: 8, batchSize: 24 });
      expect((await trainer.evaluate(data)).accuracy).toBe(1);
      const p = trainer.predictor({ inputDType: 'u32' });
      expect([...(await p.predictClasses(Uint32Array.of(0, 1, 2, 3, 4, 11)))]).toEqual([0, 1, 2, 0, 1, 2]);
      await expect(p.predict(new Float32Array(4))).rejects.toThrow(/this predictor's model takes u32 inputs \(inputDType\), so x must be a Uint32Array of ids, got a Float32Array/);
    } finally {
      trainer.dispose();
    }
  });

  it('refuses data that does not fit the trainer, naming the task, the shapes and the fix', async () => {
    const regression = linearData(20, 4);
    const labels = tensorDataset(uniform(80, 5), new Uint32Array(20), { featureShape: [4], classes: 2 });
    const make = (o: { task?: 'classification' | 'regression'; classes?: number; out?: number; optimizer?: boolean }) =>
      new Trainer(engine(), { model: new Sequential(new Linear(4, o.out ?? 2)), inputShape: [4], optimizer: o.optimizer === false ? undefined : new Adam({ lr: 0.01 }), task: o.task, classes: o.classes });
    const cases: [Trainer, Parameters<Trainer['fit']>, ErrorConstructor | typeof DatasetError, RegExp][] = [
      [make({ task: 'regression' }), [labels, { epochs: 1 }], DatasetError, /fit: the trainer is set to task 'regression' \(mean squared error\), but the data is a classification dataset/],
      [make({ out: 3 }), [regression, { epochs: 1 }], ShapeError, /fit: the model outputs \[batch, 3\], but each sample has 2 target values; end the model with a layer of 2 outputs/],
      [make({ classes: 2 }), [regression, { epochs: 1 }], ShapeError, /TrainerOptions.classes is for classification/],
      [make({ classes: 5 }), [labels, { epochs: 1 }], ShapeError, /a classifier of 5 classes needs \[batch, 5\]/],
      [make({}), [regression, { epochs: 1, batchSize: 10, augment: { shift: 1 } }], ShapeError, /a tensor dataset has no image geometry/],
      [make({}), [regression, { epochs: 1, batchSize: 10, evaluate: labels }], ShapeError, /evaluate data is a classification dataset but the training data is regression/],
      [make({ optimizer: false }), [regression, { epochs: 1 }], ShapeError, /^Trainer.fit: this trainer has no optimizer \(TrainerOptions.optimizer\), so it can only evaluate and predict/],
    ];
    for (const [trainer, args, type, message] of cases) {
      try {
        await expect(trainer.fit(...args)).rejects.toThrow(type);
        await expect(trainer.fit(...args)).rejects.toThrow(message);
      } finally {
        trainer.dispose();
      }
    }
    for (const task of ['ranking', 'toString']) {
      expect(() => new Trainer(engine(), { model: new Sequential(new Linear(4, 2)), inputShape: [4], task: task as never })).toThrow(`Trainer: task '${task}' must be one of classification, regression, multilabel`);
    }
    const wide = tensorDataset(uniform(60, 6), new Uint32Array(20), { featureShape: [3] });
    const t = make({});
    try {
      await expect(t.evaluate(wide)).rejects.toThrow(/evaluate: dataset samples are \[3\], but the model takes inputShape \[4\]/);
      await expect(t.optimizerCheckpoint()).resolves.toBeInstanceOf(Uint8Array);
    } finally {
      t.dispose();
    }
  });

  it('evaluates and predicts without an optimizer, and `using` disposes the trainer', async () => {
    const e = engine();
    const live = e.stats.liveBuffers;
    let kept: Trainer;
    {
      using trainer = new Trainer(e, { model: new Sequential(new Linear(4, 2)), inputShape: [4], seed: 1 });
      kept = trainer;
      expect((await trainer.evaluate(linearData(30, 9))).task).toBe('regression');
      await expect(trainer.optimizerCheckpoint()).rejects.toThrow(/optimizerCheckpoint: this trainer has no optimizer/);
    }
    await expect(kept.evaluate(linearData(30, 9))).rejects.toThrow(DisposedError);
    await e.flush();
    expect(e.stats.liveBuffers).toBe(live);
    // A fit, an evaluation and a predictor on tensor data leave nothing behind either.
    {
      using trainer = new Trainer(e, { model: new Sequential(new Linear(4, 2)), inputShape: [4], optimizer: new Adam({ lr: 0.01 }), seed: 1 });
      await trainer.fit(linearData(40, 10), { epochs: 2, batchSize: 16, evaluate: linearData(20, 11), progressEvery: 1, onProgress: () => {} });
      await trainer.predictor().predict(uniform(12, 12), { batchSize: 5 });
    }
    await e.flush();
    expect(e.stats.liveBuffers).toBe(live);
  });
});

describe('task metrics', () => {
  it('regression: MSE, R² and MAE as scikit-learn computes them', () => {
    const e = regressionEvaluation(Float32Array.of(1, 2, 3, 5), Float32Array.of(1, 2, 3, 4), 1);
    expect(e.loss).toBeCloseTo(0.25, 12);
    expect(e.r2).toBeCloseTo(0.8, 12); // 1 − 1/5
    expect(e.mae).toBeCloseTo(0.25, 12);
    // A constant target: R² is 1 when matched exactly, else 0.
    expect(regressionEvaluation(Float32Array.of(2, 2), Float32Array.of(2, 2), 1).r2).toBe(1);
    expect(regressionEvaluation(Float32Array.of(2, 3), Float32Array.of(2, 2), 1).r2).toBe(0);
  });

  it('multi-label: subset and label accuracy, per-label F1 and their mean', () => {
    const e = multiLabelEvaluation(Float32Array.of(2, -1, 1, 1, 3, -2), Float32Array.of(1, 0, 0, 1, 1, 1), 2);
    expect(e.subsetAccuracy).toBeCloseTo(1 / 3, 12);
    expect(e.labelAccuracy).toBeCloseTo(4 / 6, 12);
    expect(e.perLabel[0]).toMatchObject({ support: 2, recall: 1 });
    expect(e.perLabel[0].f1).toBeCloseTo(0.8, 12);
    expect(e.perLabel[1].f1).toBeCloseTo(2 / 3, 12);
    expect(e.meanF1).toBeCloseTo((0.8 + 2 / 3) / 2, 12);
    const bce = (x: number, t: number) => -t * Math.log(1 / (1 + Math.exp(-x))) - (1 - t) * Math.log(1 - 1 / (1 + Math.exp(-x)));
    expect(e.loss).toBeCloseTo((bce(2, 1) + bce(-1, 0) + bce(1, 0) + bce(1, 1) + bce(3, 1) + bce(-2, 1)) / 6, 10);
  });
});
