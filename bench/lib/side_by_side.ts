import type * as TF from '@tensorflow/tfjs';
import type { Engine } from '../../src/gpu/engine.js';
import type { AdapterReport, BenchOptions, WorkloadResult } from '../page/protocol.js';
import type { Workload } from '../workload.js';
import { tfjsDevice } from './tfjs.js';
import { tunedRunner } from './tuned.js';
import { median, SCALE, timed } from './workloads.js';

/**
 * One workload timed on both engines in this page: sets up both runners (ours on tuned kernels),
 * warms both up, then alternates timed runs so drift hits both sides alike. Shared by the harness
 * page (bench/page) and the demo site's benchmark page.
 */
export async function measureSideBySide(engine: Engine, tf: typeof TF, w: Workload, options: BenchOptions): Promise<WorkloadResult> {
  const id = w.id;
  const buffersBefore = engine.stats.liveBuffers;
  const ours = await tunedRunner(engine, w);
  let theirs;
  try {
    theirs = await w.tfjs(tf);
  } catch (e) {
    ours.dispose();
    throw e;
  }
  const tensorsBefore = tf.memory().numTensors;
  try {
    for (let i = 0; i < options.warmup; i++) {
      await ours.run();
      await theirs.run();
    }
    const oursMs: number[] = [];
    const tfjsMs: number[] = [];
    for (let i = 0; i < options.runs; i++) {
      oursMs.push(await timed(ours));
      tfjsMs.push(await timed(theirs));
    }
    if (tf.memory().numTensors !== tensorsBefore) {
      throw new Error(`${id}: the TF.js runner leaks ${tf.memory().numTensors - tensorsBefore} tensors per batch of runs`);
    }
    const scale = SCALE[w.unit];
    const oursRate = w.workPerRun / (median(oursMs) / 1e3) / scale;
    const tfjsRate = w.workPerRun / (median(tfjsMs) / 1e3) / scale;
    const extra = { ...prefixed('ours', ours.extra?.()), ...prefixed('tfjs', theirs.extra?.()) };
    return {
      id,
      unit: w.unit,
      ours: oursRate,
      tfjs: tfjsRate,
      ratio: oursRate / tfjsRate,
      workPerRun: w.workPerRun,
      runs: options.runs,
      oursMedianMs: median(oursMs),
      tfjsMedianMs: median(tfjsMs),
      oursMs,
      tfjsMs,
      ...extra,
    };
  } finally {
    ours.dispose();
    theirs.dispose();
    await engine.sync();
    const leaked = engine.stats.liveBuffers - buffersBefore;
    if (leaked !== 0) console.error(`${id}: our runner left ${leaked} GPU buffers alive after dispose()`);
  }
}

function prefixed(side: string, values: Record<string, number> | undefined): Record<string, number> {
  return Object.fromEntries(Object.entries(values ?? {}).map(([k, v]) => [`${side}_${k}`, v]));
}

/** Our adapter, the one TF.js's device came from, and whether they are one and the same. */
export function adapterReport(engine: Engine, tf: typeof TF): AdapterReport {
  const theirs = tfjsDevice(tf).adapterInfo;
  const i = engine.info;
  return {
    ...i,
    tfjs: { vendor: theirs.vendor, architecture: theirs.architecture, description: theirs.description },
    sameAdapter: theirs.vendor === i.vendor && theirs.architecture === i.architecture && theirs.description === i.description,
    userAgent: navigator.userAgent,
    tfjsVersion: tf.version.tfjs,
  };
}
