import ort from 'onnxruntime-node';
import { expect } from 'vitest';
import type { Engine } from '../../src/gpu/engine.js';
import { compileStep } from '../../src/graph/compile.js';
import { ParameterStore } from '../../src/graph/params.js';
import type { Module } from '../../src/nn/module.js';
import { encodeSafetensors, type NamedTensor } from '../../src/train/safetensors.js';
import { uniform } from './random.js';

/**
 * Random weights for every parameter and buffer of `model`, written to a fresh store: uniform
 * parameters drawn from their own PyTorch bounds and normal ones with their own spread (so outputs
 * have a trained model's scale), batch-norm scales around 1, shifts and running means around 0,
 * running variances positive.
 */
export function randomWeights(engine: Engine, model: Module, seed: number): { store: ParameterStore; tensors: NamedTensor[]; bytes: Uint8Array } {
  const store = new ParameterStore(engine, { seed });
  model.register(store);
  const tensors = store.stateDict.map((p, i): NamedTensor => {
    const size = p.shape.reduce((a, b) => a * b, 1);
    // A normal init becomes the uniform of the same mean and standard deviation.
    const spread = p.init.kind === 'normal' ? p.init.std * Math.sqrt(3) : 0;
    const [low, high] =
      p.init.kind === 'uniform' ? [p.init.low, p.init.high]
      : p.init.kind === 'normal' ? [p.init.mean - spread, p.init.mean + spread]
      : p.name.endsWith('running_var') || p.name.endsWith('weight') ? [0.5, 2]
      : [-0.5, 0.5];
    const data = p.name.endsWith('num_batches_tracked') ? Float32Array.of(3) : uniform(size, seed + i, low, high);
    return { name: p.name, shape: p.shape, data };
  });
  for (const t of tensors) store.write(t.name, t.data);
  return { store, tensors, bytes: encodeSafetensors(tensors) };
}

/** The engine's evaluation-mode forward of `model` (weights in `store`) on `x` of shape [batch, ...inputShape]. */
export async function engineForward(engine: Engine, model: Module, store: ParameterStore, inputShape: readonly number[], batch: number, x: Float32Array | Uint32Array): Promise<Float32Array> {
  const step = await compileStep(engine, {
    inputs: { x: { shape: [batch, ...inputShape], dtype: x instanceof Uint32Array ? 'u32' : 'f32' } },
    stores: [store],
    build: (g, inputs) => ({ outputs: { y: model.apply(g, inputs.x, { store, training: false }) } }),
  });
  try {
    step.run({ x });
    return await step.read('y');
  } finally {
    step.dispose();
  }
}

/** Runs the ONNX model in ONNX Runtime (CPU) on `x` of shape [batch, ...inputShape]; output 'output' and its dims. */
export async function onnxForward(bytes: Uint8Array, inputShape: readonly number[], batch: number, x: Float32Array | Uint32Array): Promise<{ data: Float32Array; dims: readonly number[] }> {
  // One thread, no pools: ONNX Runtime's thread pools and Dawn's in one process have crashed the worker.
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });
  try {
    expect(session.inputNames).toEqual(['input']);
    expect(session.outputNames).toEqual(['output']);
    const dims = [batch, ...inputShape];
    // Token ids (u32 in the engine) are int64 in the ONNX graph, Gather's index type.
    const input = x instanceof Uint32Array ? new ort.Tensor('int64', BigInt64Array.from(x, (v) => BigInt(v)), dims) : new ort.Tensor('float32', x, dims);
    const result = await session.run({ input });
    const out = result.output;
    return { data: out.data as Float32Array, dims: out.dims };
  } finally {
    await session.release();
  }
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}
