/// <reference types="vite/client" />
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { createEngine, type Engine } from '../../src/gpu/engine.js';
import { adapterReport, measureSideBySide } from '../lib/side_by_side.js';
import { allWorkloads } from '../lib/workloads.js';
import type { AdapterReport, BenchApi, BenchOptions, WorkloadResult } from './protocol.js';

let engine: Engine | undefined;
const workloads = allWorkloads();

async function init(): Promise<{ adapter: AdapterReport; workloads: { id: string; unit: string; workPerRun: number }[] }> {
  // TF.js asks for a high-performance adapter; ask for the same so both run on one adapter.
  engine = await createEngine({ powerPreference: 'high-performance' });
  await tf.setBackend('webgpu');
  await tf.ready();
  if (tf.getBackend() !== 'webgpu') throw new Error(`TF.js fell back to '${tf.getBackend()}'`);
  const adapter = adapterReport(engine, tf);
  return { adapter, workloads: workloads.map((w) => ({ id: w.id, unit: w.unit, workPerRun: w.workPerRun })) };
}

/** Times one workload on both engines (see measureSideBySide). */
async function run(id: string, options: BenchOptions): Promise<WorkloadResult> {
  if (!engine) throw new Error('bench.init() was not called');
  const w = workloads.find((x) => x.id === id);
  if (!w) throw new Error(`no workload '${id}'`);
  return measureSideBySide(engine, tf, w, options);
}

const api: BenchApi = { init, run };
(window as unknown as { bench: BenchApi }).bench = api;
document.body.dataset.state = 'ready';
