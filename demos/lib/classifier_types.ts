import type { Augmentation } from '../../src/index.js';
import type { TrainingRun } from '../../src/worker/index.js';
import type { ChunkReport, EvaluationReport } from './classifier_job.js';
import type { StepMetrics } from './live_trainer.js';

/** A view that depends on the weights (first-layer weights, conv filters), redrawn after evaluations. */
export interface WeightView {
  element: HTMLElement;
  /** Parameters whose values the worker sends with every evaluation. */
  weights: string[];
  update(report: EvaluationReport, run: TrainingRun<ChunkReport>): void;
}

export interface ClassifierDemoConfig {
  /** The worker's job ('mlp' or 'cnn'), which builds the model from the sizes. */
  key: 'mlp' | 'cnn';
  inputShape: number[];
  /** The architecture field: a comma-separated list of sizes. */
  arch: { label: string; default: string; hint: string };
  defaults: { lr: number; batch: number; optimizer: 'adam' | 'adamw' | 'sgd'; train: number; test: number; evalEvery: number };
  views(): WeightView[];
}

/** What the end-to-end tests read, instead of scraping canvases. */
export interface ClassifierHooks {
  state: 'building' | 'idle' | 'running' | 'paused' | 'done';
  steps: number;
  history: StepMetrics[];
  evals: { step: number; loss: number; accuracy: number }[];
  grid: { label: number; predicted: number; confidence: number }[];
  drawn?: { top: { digit: number; p: number }[] };
  lr: number;
  /** The augmentation the trainer was built with (undefined: none). */
  augment?: Augmentation;
  /** The first images of the last training batch as shown (values in [0, 1], 784 each). */
  batch: number[][];
  samplesPerSec: number;
  stepMs: number;
  /** The longest main-thread task seen while training (ms), from the Long Tasks API where present. */
  longestTaskMs: number;
  /** The steps training resumed from after each loss of the GPU device. */
  recoveries: number[];
}

declare global {
  interface Window {
    __demo?: unknown;
    /** For tests: destroys the worker's GPU device, as a driver reset would (kept apart from the cloned hooks). */
    __loseDevice?: () => void;
    /** For tests: the run in the worker, to pause, change the rate and checkpoint through the protocol. */
    __run?: TrainingRun<ChunkReport>;
  }
}
