import type { EngineInfo } from '../../src/gpu/engine.js';

/** What bench/run.mjs and the benchmark page exchange through `window.bench`. */
export interface BenchOptions {
  runs: number;
  warmup: number;
}

export interface AdapterReport extends EngineInfo {
  /** The adapter TF.js's device came from, to confirm both engines share one. */
  tfjs: { vendor: string; architecture: string; description: string };
  sameAdapter: boolean;
  userAgent: string;
  tfjsVersion: string;
}

export interface WorkloadResult {
  id: string;
  unit: string;
  /** Throughput: workPerRun / median seconds, in `unit`. */
  ours: number;
  tfjs: number;
  /** ours / tfjs: above 1 means faster than TF.js. */
  ratio: number;
  workPerRun: number;
  runs: number;
  oursMedianMs: number;
  tfjsMedianMs: number;
  oursMs: number[];
  tfjsMs: number[];
  /** Runner extras, prefixed `ours_` / `tfjs_`. */
  [extra: string]: number | number[] | string;
}

export interface BenchApi {
  init(): Promise<{ adapter: AdapterReport; workloads: { id: string; unit: string; workPerRun: number }[] }>;
  run(id: string, options: BenchOptions): Promise<WorkloadResult>;
}
