import { describe, expect, it } from 'vitest';
import { distill } from '../../src/compress/distill.js';
import type { ImageDataset } from '../../src/data/dataset.js';
import { DatasetError } from '../../src/data/idx.js';
import { Linear, ReLU, Sequential } from '../../src/nn/layers.js';
import { Adam } from '../../src/optim/optimizers.js';
import { Trainer } from '../../src/train/trainer.js';
import { useEngine } from '../helpers/engine.js';
import { rng } from '../helpers/random.js';

const engine = useEngine();

/**
 * 48 random 8×8 images labelled 0–3, declared as 4 classes, with `label` written at sample `at`:
 * as a dataset built in code, past any load-time check, can hold it.
 */
function withLabel(at: number, label: number): ImageDataset {
  const next = rng(9);
  const images = Uint8Array.from({ length: 48 * 64 }, () => Math.floor(next() * 256));
  const labels = Uint8Array.from({ length: 48 }, () => Math.floor(next() * 4));
  labels[at] = label;
  return { images, labels, count: 48, height: 8, width: 8, classes: 4 };
}

const make = (ignoreIndex?: number) =>
  new Trainer(engine(), { model: new Sequential(new Linear(64, 8), ReLU(), new Linear(8, 4)), inputShape: [64], classes: 4, optimizer: new Adam({ lr: 1e-2 }), seed: 1, ignoreIndex });

describe('labels out of range at run time', () => {
  it('stops fit with a DatasetError naming the step and the class count', async () => {
    const t = make();
    // Batch 48: the one step of each epoch holds sample 7, so the first bad step is step 1.
    const error = await t.fit(withLabel(7, 9), { epochs: 2, batchSize: 48 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatasetError);
    expect((error as Error).message).toMatch(/^fit: 1 training label\(s\) are ≥ 4, the model's class count, first at step 1 \(epoch 1\)/);
    // Unshuffled steps of 8 would find it in step 1; shuffled, in some step of epoch 1.
    const later = await t.fit(withLabel(7, 200), { epochs: 3, batchSize: 8, progressEvery: 2, onProgress: () => {} }).catch((e: unknown) => e);
    expect((later as Error).message).toMatch(/^fit: 1 training label\(s\) are ≥ 4, the model's class count, first at step [1-6] \(epoch 1\)/);
    await expect(t.evaluate(withLabel(3, 4))).rejects.toThrow(/^evaluate: sample 3 has label 4, but the model has 4 classes/);
    t.dispose();
  });

  it('ignoreIndex leaves those rows out instead: no error, finite means', async () => {
    const t = make(9);
    const history = await t.fit(withLabel(7, 9), { epochs: 2, batchSize: 8 });
    expect(history.every((r) => Number.isFinite(r.loss) && r.skippedSteps === 0)).toBe(true);
    const e = await t.evaluate(withLabel(7, 9));
    expect(Number.isFinite(e.loss)).toBe(true);
    expect(e.confusion.flat().reduce((a, b) => a + b, 0)).toBe(47);
    t.dispose();
  });

  it('distill checks the labels the same way, and honours the student\'s ignoreIndex', async () => {
    const teacher = make();
    const run = (student: Trainer) => distill(engine(), withLabel(7, 9), { student, teacher, temperature: 2, alpha: 0.5, epochs: 1, batchSize: 8 });
    const strict = make();
    await expect(run(strict)).rejects.toThrow(/^distill: 1 training label\(s\) are ≥ 4, the model's class count, first at step [1-6] \(epoch 1\)/);
    const lenient = make(9);
    expect((await run(lenient)).every((r) => Number.isFinite(r.labelLoss))).toBe(true);
    for (const t of [teacher, strict, lenient]) t.dispose();
  });
});

