import type { Engine } from '../../src/gpu/engine.js';
import { tunedRunner } from '../lib/tuned.js';
import { median, SCALE, timed } from '../lib/workloads.js';
import type { Workload } from '../workload.js';

/**
 * One workload measured on our engine alone, in the page's JSON schema (bench/page/protocol.ts):
 * `tfjs` and `ratio` are null, there being nothing to compare with in Node.
 */
export interface NodeWorkloadResult {
  id: string;
  unit: string;
  /** Throughput: workPerRun / median seconds, in `unit`. */
  ours: number;
  tfjs: null;
  ratio: null;
  workPerRun: number;
  runs: number;
  warmup: number;
  oursMedianMs: number;
  oursMs: number[];
  /**
   * Process CPU time per run over the timed runs (user + system, every thread: JavaScript, Dawn and
   * the driver; on a software adapter also the emulated GPU).
   */
  oursCpuMsPerRun: number;
  /** Training workloads: batch size, steps per run, and wall / CPU time per step. */
  batch?: number;
  stepsPerRun?: number;
  oursMsPerStep?: number;
  oursCpuMsPerStep?: number;
  /** Runner extras, prefixed `ours_`. */
  [extra: string]: number | number[] | string | null | undefined;
}

/**
 * Sets up our runner, warms it up, then times `runs` runs one after another, as the page does for
 * our side. Buffers the runner leaves alive after dispose() are reported through `warn`.
 */
export async function measureOurs(
  engine: Engine,
  w: Workload,
  options: { runs: number; warmup: number },
  warn: (message: string) => void,
): Promise<NodeWorkloadResult> {
  const buffersBefore = engine.stats.liveBuffers;
  const runner = await tunedRunner(engine, w);
  try {
    for (let i = 0; i < options.warmup; i++) await runner.run();
    const ms: number[] = [];
    const cpuStart = process.cpuUsage();
    for (let i = 0; i < options.runs; i++) ms.push(await timed(runner));
    const cpu = process.cpuUsage(cpuStart);
    const mid = median(ms);
    const cpuMsPerRun = (cpu.user + cpu.system) / 1e3 / options.runs;
    const steps = w.stepsPerRun;
    const extra = Object.fromEntries(Object.entries(runner.extra?.() ?? {}).map(([k, v]) => [`ours_${k}`, v]));
    return {
      id: w.id,
      unit: w.unit,
      ours: w.workPerRun / (mid / 1e3) / SCALE[w.unit],
      tfjs: null,
      ratio: null,
      workPerRun: w.workPerRun,
      runs: options.runs,
      warmup: options.warmup,
      oursMedianMs: mid,
      oursMs: ms,
      oursCpuMsPerRun: cpuMsPerRun,
      ...(w.batch === undefined ? {} : { batch: w.batch }),
      ...(steps === undefined ? {} : { stepsPerRun: steps, oursMsPerStep: mid / steps, oursCpuMsPerStep: cpuMsPerRun / steps }),
      ...extra,
    };
  } finally {
    runner.dispose();
    await engine.sync();
    const leaked = engine.stats.liveBuffers - buffersBefore;
    if (leaked !== 0) warn(`${w.id}: our runner left ${leaked} GPU buffers alive after dispose()`);
  }
}
