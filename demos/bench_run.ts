import type * as TF from '@tensorflow/tfjs';
import { measureSideBySide } from '../bench/lib/side_by_side.js';
import { allWorkloads } from '../bench/lib/workloads.js';
import { CNN, MLP, type Classifier } from '../bench/workloads/train.js';
import type { Engine } from '../src/gpu/engine.js';
import { oursToAccuracy, tfjsToAccuracy } from './bench_accuracy.js';
import { mnistTestSubset, mnistTrainSubset } from './bench_mnist.js';
import { rounded, type SharedWorkload } from './bench_share.js';

/** A throughput workload of bench/workloads, at its own batch or another. */
interface ThroughputItem {
  kind: 'throughput';
  id: string;
  batch?: number;
}

interface AccuracyItem {
  kind: 'accuracy';
  id: string;
  classifier: Classifier;
  batch: number;
  target: number;
  trainImages: number;
  testImages: number;
  evalBatch: number;
  evalEvery: number;
  maxSeconds: number;
}

export type BenchItem = ThroughputItem | AccuracyItem;

export interface BenchMode {
  name: 'quick' | 'full';
  items: BenchItem[];
  runs: number;
  warmup: number;
}

const accuracy = (a: Omit<AccuracyItem, 'kind' | 'id'>, name: string): AccuracyItem => ({
  kind: 'accuracy',
  id: `T-${name}-${Math.round(a.target * 100)}`,
  ...a,
});

/** What one click measures: the sizes and targets of the project's benchmarks, on all of MNIST. */
export const FULL: BenchMode = {
  name: 'full',
  runs: 7,
  warmup: 2,
  items: [
    { kind: 'throughput', id: 'W1-matmul-1024' },
    { kind: 'throughput', id: 'W1-matmul-2048' },
    { kind: 'throughput', id: 'W2-mlp' },
    { kind: 'throughput', id: 'W3-cnn' },
    { kind: 'throughput', id: 'W4-gan' },
    accuracy({ classifier: MLP, batch: 128, target: 0.98, trainImages: 60000, testImages: 10000, evalBatch: 1000, evalEvery: 234, maxSeconds: 600 }, 'mlp'),
    accuracy({ classifier: CNN, batch: 64, target: 0.99, trainImages: 60000, testImages: 10000, evalBatch: 500, evalEvery: 468, maxSeconds: 900 }, 'cnn'),
  ],
};

/** Small sizes and lower targets: seconds on a GPU, a few minutes on a software adapter. */
export const QUICK: BenchMode = {
  name: 'quick',
  runs: 3,
  warmup: 1,
  items: [
    { kind: 'throughput', id: 'W1-matmul-256' },
    { kind: 'throughput', id: 'W2-mlp', batch: 32 },
    { kind: 'throughput', id: 'W3-cnn', batch: 4 },
    { kind: 'throughput', id: 'W4-gan', batch: 16 },
    accuracy({ classifier: MLP, batch: 32, target: 0.8, trainImages: 2048, testImages: 500, evalBatch: 500, evalEvery: 25, maxSeconds: 300 }, 'mlp'),
    accuracy({ classifier: CNN, batch: 16, target: 0.5, trainImages: 1024, testImages: 200, evalBatch: 200, evalEvery: 10, maxSeconds: 300 }, 'cnn'),
  ],
};

export function itemLabel(item: BenchItem): string {
  if (item.kind === 'accuracy') return `${item.id}: time to ${item.target * 100}% test accuracy, batch ${item.batch}`;
  return item.batch ? `${item.id} at batch ${item.batch}` : item.id;
}

async function throughput(engine: Engine, tf: typeof TF, item: ThroughputItem, mode: BenchMode): Promise<SharedWorkload> {
  const base = allWorkloads().find((w) => w.id === item.id);
  if (!base) throw new Error(`the benchmark has no workload '${item.id}'`);
  const w = item.batch === undefined ? base : base.atBatch?.(item.batch);
  if (!w) throw new Error(`workload '${item.id}' has no other batch sizes`);
  const r = await measureSideBySide(engine, tf, w, { runs: mode.runs, warmup: mode.warmup });
  return { id: r.id, unit: r.unit, ours: rounded(r.ours), tfjs: rounded(r.tfjs), ratio: rounded(r.ratio), ...(w.batch ? { batch: w.batch } : {}) };
}

async function toAccuracy(engine: Engine, tf: typeof TF, item: AccuracyItem): Promise<SharedWorkload> {
  const task = { ...item, train: await mnistTrainSubset(item.trainImages), test: await mnistTestSubset(item.testImages) };
  const ours = await oursToAccuracy(engine, task);
  const theirs = await tfjsToAccuracy(tf, task);
  const seconds = (v: number | null) => (v === null ? null : rounded(v));
  return {
    id: item.id,
    unit: 's',
    ours: seconds(ours.seconds),
    tfjs: seconds(theirs.seconds),
    // Times: TF.js's over ours, so that above 1 means faster here too.
    ratio: ours.seconds && theirs.seconds ? rounded(theirs.seconds / ours.seconds) : null,
    batch: item.batch,
    target: item.target,
    oursAccuracy: rounded(ours.accuracy),
    tfjsAccuracy: rounded(theirs.accuracy),
  };
}

/** Measures one item on both engines. */
export function measureItem(engine: Engine, tf: typeof TF, item: BenchItem, mode: BenchMode): Promise<SharedWorkload> {
  return item.kind === 'accuracy' ? toAccuracy(engine, tf, item) : throughput(engine, tf, item, mode);
}
