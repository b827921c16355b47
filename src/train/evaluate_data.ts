import type { Normalisation } from '../data/gpu_dataset.js';
import { uploadDataset, type BatchGather } from '../data/gpu_tensor_dataset.js';
import { isTensorDataset } from '../data/tensor_dataset.js';
import type { Engine } from '../gpu/engine.js';
import { ShapeError } from '../gpu/errors.js';
import type { CompiledStep } from '../graph/compile.js';
import { classificationEvaluation, multiLabelEvaluation, regressionEvaluation, type AnyEvaluation } from './task_metrics.js';
import { batchLayout, type TrainingData } from './task_step.js';

export interface EvaluateOptions {
  normalisation: Normalisation;
  batchSize: number;
  /** The model's output width (classes, target values or labels). */
  width: number;
  ignoreIndex?: number;
  /** A forward-only step of `n` samples with the data's layout (cached by the caller). */
  stepFor: (n: number) => Promise<CompiledStep<'x' | 'labels'>>;
}

/**
 * Runs the model over every sample of `data` in order, on the GPU (uploaded once, gathered per
 * batch), reads its outputs back, and scores them for the data's task.
 */
export async function evaluateOn(engine: Engine, data: TrainingData, o: EvaluateOptions): Promise<AnyEvaluation> {
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new ShapeError(`evaluate: batch size ${o.batchSize} must be a positive integer`);
  const layout = batchLayout(data);
  const outputs = await collectOutputs(engine, data, o);
  if (!isTensorDataset(data)) return classificationEvaluation(outputs, data.labels, o.width, o.ignoreIndex, data.classes);
  switch (layout.task) {
    case 'classification':
      return classificationEvaluation(outputs, data.targets, o.width, o.ignoreIndex, data.classes);
    case 'regression':
      return regressionEvaluation(outputs, data.targets as Float32Array, o.width);
    case 'multilabel':
      return multiLabelEvaluation(outputs, data.targets as Float32Array, o.width);
    default:
      return layout.task satisfies never;
  }
}

async function collectOutputs(engine: Engine, data: TrainingData, o: EvaluateOptions): Promise<Float32Array> {
  const resident = uploadDataset(engine, data, o.normalisation);
  const outputs = new Float32Array(data.count * o.width);
  const batchers = new Map<number, BatchGather>();
  try {
    for (let start = 0; start < data.count; start += o.batchSize) {
      const n = Math.min(o.batchSize, data.count - start);
      const step = await o.stepFor(n);
      let batcher = batchers.get(n);
      if (!batcher) {
        batcher = await resident.batcher(n, step.inputRange('x'), step.inputRange('labels'));
        batchers.set(n, batcher);
      }
      const b = batcher;
      // The dataset keeps its identity order here, so the gather reads samples start … start + n.
      step.run({}, { before: (e) => b.encode(e, start) });
      outputs.set(await step.read('logits'), start * o.width);
    }
  } finally {
    for (const b of batchers.values()) b.dispose();
    resident.dispose();
  }
  return outputs;
}
