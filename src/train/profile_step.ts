import type { Normalisation } from '../data/gpu_dataset.js';
import { uploadDataset } from '../data/gpu_tensor_dataset.js';
import type { Engine } from '../gpu/engine.js';
import { TimestampProfiler, type PassTiming } from '../gpu/profiler.js';
import type { CompiledStep } from '../graph/compile.js';
import type { TrainingData } from './task_step.js';

/**
 * Runs `warmup` ordinary steps of `step` on the first batch of `data`, then times the batch
 * gather and every kernel of one more step (each in a compute pass of its own), in launch order.
 * `data` should hold just that batch: only it is uploaded.
 */
export async function profileTrainingStep(engine: Engine, step: CompiledStep<'x' | 'labels'>, data: TrainingData, o: { batch: number; warmup: number; normalisation: Normalisation }): Promise<PassTiming[]> {
  const resident = uploadDataset(engine, data, o.normalisation);
  try {
    const batcher = await resident.batcher(o.batch, step.inputRange('x'), step.inputRange('labels'));
    try {
      for (let i = 0; i < o.warmup; i++) step.run({}, { before: (e) => batcher.encode(e, 0) });
      await engine.sync();
      const gather = new TimestampProfiler(engine, 1);
      try {
        const encoder = engine.device.createCommandEncoder();
        batcher.encode(encoder, 0, 0, (e, name) => gather.beginPass(e, name));
        gather.resolve(encoder);
        engine.device.queue.submit([encoder.finish()]);
        const [gatherTiming] = await gather.read();
        return [gatherTiming, ...(await step.profile())];
      } finally {
        gather.dispose();
      }
    } finally {
      batcher.dispose();
    }
  } finally {
    resident.dispose();
  }
}
