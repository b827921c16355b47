/// <reference types="vite/client" />
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { createEngine, type Engine } from '../../src/gpu/engine.js';
import { tfjsDevice } from '../lib/tfjs.js';
import { allWorkloads, median, SCALE, timed } from '../lib/workloads.js';
import type { AdapterReport, BenchApi, BenchOptions, WorkloadResult } from './protocol.js';

let engine: Engine | undefined;
const workloads = allWorkloads();

async function init(): Promise<{ adapter: AdapterReport; workloads: { id: string; unit: string; workPerRun: number }[] }> {
  // TF.js asks for a high-performance adapter; ask for the same so both run on one adapter.
  engine = await createEngine({ powerPreference: 'high-performance' });
  await tf.setBackend('webgpu');
  await tf.ready();
  if (tf.getBackend() !== 'webgpu') throw new Error(`TF.js fell back to '${tf.getBackend()}'`);
  const theirs = tfjsDevice(tf).adapterInfo;
  const i = engine.info;
  const adapter: AdapterReport = {
    ...i,
    tfjs: { vendor: theirs.vendor, architecture: theirs.architecture, description: theirs.description },
    sameAdapter: theirs.vendor === i.vendor && theirs.architecture === i.architecture && theirs.description === i.description,
    userAgent: navigator.userAgent,
    tfjsVersion: tf.version.tfjs,
  };
  return { adapter, workloads: workloads.map((w) => ({ id: w.id, unit: w.unit, workPerRun: w.workPerRun })) };
}

/** Sets up both runners, warms both up, then alternates timed runs so drift hits both sides alike. */
async function run(id: string, options: BenchOptions): Promise<WorkloadResult> {
  if (!engine) throw new Error('bench.init() was not called');
  const w = workloads.find((x) => x.id === id);
  if (!w) throw new Error(`no workload '${id}'`);
  const buffersBefore = engine.stats.liveBuffers;
  const ours = await w.ours(engine);
  const theirs = await w.tfjs(tf);
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

const api: BenchApi = { init, run };
(window as unknown as { bench: BenchApi }).bench = api;
document.body.dataset.state = 'ready';
