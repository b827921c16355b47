import type * as TF from '@tensorflow/tfjs';
import type { Engine } from '../src/gpu/engine.js';

/**
 * One timed side-by-side measurement. The harness (bench/run.mjs) creates both engines in the same
 * Chromium page on the same adapter, alternates `ours` and `tfjs` runs, and reports medians.
 */
export interface Workload {
  /** e.g. 'W1-matmul-1024'; `--only PREFIX` filters on it. */
  id: string;
  unit: 'GFLOP/s' | 'samples/s' | 'iterations/s' | 'tokens/s';
  /** Work per call of `run()`, in the unit's numerator (FLOPs, samples or iterations). */
  workPerRun: number;
  /** Training workloads: the batch size of one step. */
  batch?: number;
  /** Training workloads: steps (GAN: iterations of a D and a G step) per call of `run()`. */
  stepsPerRun?: number;
  /** Training workloads: the same at another batch size, with the id `<id>-b<batch>` (its own id at the page's batch). */
  atBatch?(batch: number): Workload;
  ours(engine: Engine): Promise<Runner>;
  tfjs(tf: typeof TF): Promise<Runner>;
}

export interface Runner {
  /** Does the work once and resolves when the GPU has finished it (no readback of results). */
  run(): Promise<void>;
  dispose(): void;
  /** Optional extra facts to report (dispatches per step, bytes held). */
  extra?(): Record<string, number>;
}
