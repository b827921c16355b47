import { beforeAll, describe, expect, it } from 'vitest';
import type { ImageDataset } from '../../src/data/dataset.js';
import { loadMnist } from '../../src/data/idx_files.js';
import { Linear, ReLU, Sequential, Flatten } from '../../src/nn/layers.js';
import { Adam, SGD } from '../../src/optim/optimizers.js';
import { cosine } from '../../src/train/schedules.js';
import { Trainer } from '../../src/train/trainer.js';
import { encodeSafetensors } from '../../src/train/safetensors.js';
import { useEngine } from '../helpers/engine.js';

const engine = useEngine();
let train: ImageDataset;
let test: ImageDataset;

function head(d: ImageDataset, n: number): ImageDataset {
  return { ...d, count: n, images: d.images.subarray(0, n * d.height * d.width), labels: d.labels.subarray(0, n) };
}

beforeAll(async () => {
  const mnist = await loadMnist();
  train = head(mnist.train, 3000);
  test = head(mnist.test, 1000);
});

describe('Trainer on real MNIST', () => {
  it('trains an MLP well above chance, reports progress, and saves/loads checkpoints', async () => {
    const optimizer = new Adam({ lr: 3e-3 });
    const trainer = new Trainer(engine(), {
      model: new Sequential(new Flatten(), new Linear(784, 32), ReLU(), new Linear(32, 10)),
      inputShape: [1, 28, 28],
      classes: 10,
      optimizer,
      seed: 1,
    });
    const before = await trainer.evaluate(test);
    const progress: number[] = [];
    const history = await trainer.fit(train, {
      epochs: 2,
      batchSize: 50,
      evaluate: test,
      onProgress: (p) => progress.push(p.loss),
      progressEvery: 10,
      schedule: cosine(),
    });
    expect(history).toHaveLength(2);
    // The schedule ran the rate down to ~0 and the base rate is back after training.
    expect(history[1].lr).toBeLessThan(1e-5);
    expect(optimizer.lr).toBe(3e-3);
    expect(history[1].loss).toBeLessThan(history[0].loss);
    expect(history[1].evalAccuracy!).toBeGreaterThan(0.8);
    expect(history[1].evalAccuracy!).toBeGreaterThan(before.accuracy + 0.5);
    expect(history[1].evalLoss!).toBeLessThan(before.loss);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.every(Number.isFinite)).toBe(true);

    const evaluation = await trainer.evaluate(test);
    expect(evaluation.accuracy).toBeCloseTo(history[1].evalAccuracy!, 10);
    expect(evaluation.confusion.flat().reduce((a, b) => a + b, 0)).toBe(1000);
    expect(evaluation.perClass).toHaveLength(10);

    // Save, scramble by training a fresh model, load: the same predictions come back.
    const bytes = await trainer.checkpoint();
    const sample = test.images.subarray(0, 5 * 784);
    const p1 = await trainer.predict(sample, 5);
    const other = new Trainer(engine(), {
      model: new Sequential(new Flatten(), new Linear(784, 32), ReLU(), new Linear(32, 10)),
      inputShape: [1, 28, 28],
      classes: 10,
      optimizer: new SGD({ lr: 0.1 }),
      seed: 99,
    });
    expect(Array.from(await other.predict(sample, 5))).not.toEqual(Array.from(p1));
    other.load(bytes);
    expect(Array.from(await other.predict(sample, 5))).toEqual(Array.from(p1));
    // Names follow torch.nn.Sequential's state_dict.
    const wrong = encodeSafetensors([{ name: '1.weight', shape: [32, 785], data: new Float32Array(32 * 785) }]);
    expect(() => other.load(wrong)).toThrow(/'1.weight': checkpoint has \[32, 785\], model needs \[32, 784\][\s\S]*missing '1.bias'/);
    other.dispose();
    trainer.dispose();
  });

  it('stops early when the evaluation loss stops improving', async () => {
    const trainer = new Trainer(engine(), {
      model: new Sequential(new Linear(784, 10)),
      inputShape: [784],
      classes: 10,
      optimizer: new SGD({ lr: 0 }), // never improves
      seed: 2,
    });
    const epochs: number[] = [];
    await trainer.fit(head(train, 400), { epochs: 10, batchSize: 100, evaluate: head(test, 200), earlyStopping: { patience: 2 }, onEpoch: (r) => epochs.push(r.epoch) });
    expect(epochs).toEqual([1, 2, 3]);
    trainer.dispose();
  });

  it('rejects data that does not fit the model', async () => {
    const trainer = new Trainer(engine(), { model: new Sequential(new Linear(100, 10)), inputShape: [100], classes: 10, optimizer: new SGD({ lr: 0.1 }) });
    await expect(trainer.fit(train, { epochs: 1 })).rejects.toThrow(/28×28 = 784 pixels, but the model takes \[100\]/);
    trainer.dispose();
  });

  it('rejects bad loop options before any GPU work', async () => {
    const trainer = new Trainer(engine(), { model: new Sequential(new Linear(784, 10)), inputShape: [784], classes: 10, optimizer: new SGD({ lr: 0.1 }) });
    const live = engine().stats.liveBuffers;
    const small = head(train, 100);
    await expect(trainer.fit(small, { epochs: 0 })).rejects.toThrow(/^fit: epochs 0 must be a positive integer/);
    await expect(trainer.fit(small, { epochs: 1.5 })).rejects.toThrow(/^fit: epochs 1.5 must be a positive integer/);
    await expect(trainer.fit(small, { epochs: 1, batchSize: 101 })).rejects.toThrow(/^fit: batch size 101 must be a positive integer no larger than the 100 training samples/);
    await expect(trainer.fit(small, { epochs: 1, batchSize: 0 })).rejects.toThrow(/^fit: batch size 0/);
    await expect(trainer.fit(small, { epochs: 1, batchSize: 50, earlyStopping: { patience: 2 } })).rejects.toThrow(/^fit: earlyStopping watches the evaluation loss; pass `evaluate`/);
    await expect(trainer.fit(small, { epochs: 1, batchSize: 50, evaluate: small, earlyStopping: { patience: 0 } })).rejects.toThrow(/^earlyStopping: patience 0 must be a positive integer/);
    await expect(trainer.fit(small, { epochs: 1, batchSize: 50, evaluate: small, earlyStopping: { patience: 1, minDelta: -1 } })).rejects.toThrow(/^earlyStopping: minDelta -1 must be/);
    expect(engine().stats.liveBuffers).toBe(live);
    trainer.dispose();
  });

  it('trains an MLP with GPU augmentation well above chance; rejects a bad augmentation before GPU work', async () => {
    const make = () =>
      new Trainer(engine(), {
        model: new Sequential(new Linear(784, 32), ReLU(), new Linear(32, 10)),
        inputShape: [784],
        classes: 10,
        optimizer: new Adam({ lr: 3e-3 }),
        seed: 5,
      });
    const trainer = make();
    const live = engine().stats.liveBuffers;
    await expect(trainer.fit(train, { epochs: 1, augment: { rotate: 200 } })).rejects.toThrow(/^augment: rotate 200 exceeds 180 degrees/);
    await expect(trainer.fit(train, { epochs: 1, augment: { shift: 28 } })).rejects.toThrow(/augment: shift 28 reaches the image size 28×28/);
    expect(engine().stats.liveBuffers).toBe(live);
    const data = head(train, 1000);
    const augmented = await trainer.fit(data, { epochs: 3, batchSize: 50, augment: { shift: 2, rotate: 10 }, evaluate: head(test, 500) });
    // Measured 0.73 (chance is 0.1).
    expect(augmented[2].evalAccuracy!).toBeGreaterThan(0.6);
    // The same first epoch without augmentation (same initialisation and sample order) fits its
    // unmoved images better: measured loss 1.73 against 1.96.
    const plainTrainer = make();
    const plain = await plainTrainer.fit(data, { epochs: 1, batchSize: 50 });
    expect(augmented[0].loss).toBeGreaterThan(plain[0].loss + 0.05);
    plainTrainer.dispose();
    trainer.dispose();
  });

  it('leaves no buffers alive', () => {
    expect(engine().stats.liveBuffers).toBe(0);
  });
});

describe('Trainer with convolutions', () => {
  it('trains a small CNN on real MNIST well above chance', async () => {
    const { Conv2d, MaxPool2d } = await import('../../src/nn/conv.js');
    const trainer = new Trainer(engine(), {
      model: new Sequential(new Conv2d(1, 4, 5, { stride: 2 }), ReLU(), new MaxPool2d(2), new Flatten(), new Linear(4 * 6 * 6, 10)),
      inputShape: [1, 28, 28],
      classes: 10,
      optimizer: new Adam({ lr: 1e-2 }),
      seed: 4,
    });
    const history = await trainer.fit(head(train, 2000), { epochs: 1, batchSize: 50, evaluate: head(test, 500) });
    expect(history[0].evalAccuracy!).toBeGreaterThan(0.7);
    trainer.dispose();
  });
});
