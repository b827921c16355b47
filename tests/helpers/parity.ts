import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { Engine } from '../../src/gpu/engine.js';
import { gradients } from '../../src/graph/autodiff.js';
import { compileStep } from '../../src/graph/compile.js';
import type { DType, Graph, Value } from '../../src/graph/ir.js';
import { ParameterStore } from '../../src/graph/params.js';
import type { Module } from '../../src/nn/module.js';
import type { Optimizer } from '../../src/optim/optimizers.js';
import { encodeSafetensors, type NamedTensor } from '../../src/train/safetensors.js';

/** The interpreter CI installs PyTorch into (Debian's python3-torch). */
export const PYTHON = '/usr/bin/python3';
export const SCRIPTS = join(import.meta.dirname, '..', '..', 'scripts');

/** Whether `PYTHON` can import torch; the reason when it cannot. */
export function torchStatus(): { ok: true } | { ok: false; reason: string } {
  const r = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8' });
  if (r.error) return { ok: false, reason: `${PYTHON} could not be run (${r.error.message})` };
  if (r.status !== 0) return { ok: false, reason: `${PYTHON} has no torch/numpy: ${r.stderr.trim().split('\n').pop()}` };
  return { ok: true };
}

/** Runs a script of scripts/ with `PYTHON`; its last stdout line parsed as JSON. */
export function runPython(script: string, args: string[]): Record<string, unknown> {
  const stdout = execFileSync(PYTHON, [join(SCRIPTS, script), ...args], { encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
}

export interface BatchInput {
  shape: readonly number[];
  dtype?: DType;
  data: Float32Array | Uint32Array;
}

/** A model family's loss on a fixed batch: the module trained, any module it only reads, and the loss graph. */
export interface ParityCase {
  name: string;
  model: Module;
  /** Modules whose parameters the loss reads but never trains, each at its own path (G's discriminator at 'D'). */
  frozen: { module: Module; path: string }[];
  inputs: Record<string, BatchInput>;
  loss(g: Graph, inputs: Record<string, Value>, stores: { store: ParameterStore; frozen: ParameterStore[] }): Value;
}

/** Fresh stores holding `weights` (by name) for the trained module and each frozen one. */
export function storesFor(engine: Engine, c: ParityCase, weights: ReadonlyMap<string, Float32Array>): { store: ParameterStore; frozen: ParameterStore[] } {
  const fill = (module: Module, path: string) => {
    const store = new ParameterStore(engine, { seed: 5 });
    module.register(store, path);
    for (const p of store.stateDict) store.write(p.name, weights.get(p.name) ?? expect.fail(`no initial value for ${p.name}`));
    return store;
  };
  return { store: fill(c.model, ''), frozen: c.frozen.map((f) => fill(f.module, f.path)) };
}

export function disposeStores(s: { store: ParameterStore; frozen: ParameterStore[] }): void {
  s.store.dispose();
  for (const f of s.frozen) f.dispose();
}

/** The state dict of `store` with `prefix` taken off the names (a frozen module's path), as safetensors. */
export async function stateDictFile(store: ParameterStore, prefix = ''): Promise<{ bytes: Uint8Array; tensors: NamedTensor[] }> {
  const tensors: NamedTensor[] = [];
  for (const p of store.stateDict) tensors.push({ name: p.name.slice(prefix.length), shape: p.shape, data: await store.read(p.name) });
  return { bytes: encodeSafetensors(tensors), tensors };
}

const inputSpecs = (c: ParityCase) => Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, { shape: v.shape, dtype: v.dtype }]));
const inputData = (c: ParityCase) => Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, v.data]));

/** The engine's loss and the gradient of every trained parameter (by name), from one compiled forward + backward. */
export async function engineGradients(engine: Engine, c: ParityCase, stores: { store: ParameterStore; frozen: ParameterStore[] }): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
  const names: string[] = [];
  const step = await compileStep(engine, {
    inputs: inputSpecs(c),
    stores: [stores.store, ...stores.frozen],
    build: (g, inputs) => {
      const loss = c.loss(g, inputs, stores);
      const wrt = g.params.filter((p) => stores.store.has(p.name) && !stores.store.isBuffer(p.name));
      const grads = gradients(g, loss, wrt);
      const outputs: Record<string, Value> = { loss };
      wrt.forEach((p, i) => {
        names.push(p.name);
        outputs[`grad${i}`] = grads.get(p)!;
      });
      return { outputs };
    },
  });
  try {
    step.run(inputData(c));
    const grads = new Map<string, Float32Array>();
    for (const [i, name] of names.entries()) grads.set(name, await step.read(`grad${i}`));
    return { loss: (await step.read('loss'))[0], grads };
  } finally {
    step.dispose();
  }
}

/** The trained parameters after each of `steps` compiled training steps on the same batch. */
export async function engineSteps(engine: Engine, c: ParityCase, stores: { store: ParameterStore; frozen: ParameterStore[] }, optimizer: Optimizer, steps: number): Promise<Map<string, Float32Array>[]> {
  const step = await compileStep(engine, {
    inputs: inputSpecs(c),
    stores: [stores.store, ...stores.frozen],
    build: (g, inputs) => {
      const loss = c.loss(g, inputs, stores);
      return { outputs: { loss }, minimize: { loss, store: stores.store, optimizer } };
    },
  });
  try {
    const after: Map<string, Float32Array>[] = [];
    for (let s = 0; s < steps; s++) {
      step.run(inputData(c));
      const params = new Map<string, Float32Array>();
      for (const p of stores.store.list) params.set(p.name, await stores.store.read(p.name));
      after.push(params);
    }
    return after;
  } finally {
    step.dispose();
  }
}

/** ‖a − b‖ / ‖b‖ over the concatenation of the named vectors. */
export function relativeNormError(names: readonly string[], a: (name: string) => ArrayLike<number>, b: (name: string) => ArrayLike<number>): number {
  let diff = 0;
  let norm = 0;
  for (const name of names) {
    const [x, y] = [a(name), b(name)];
    expect(x.length, name).toBe(y.length);
    for (let i = 0; i < y.length; i++) {
      diff += (x[i] - y[i]) ** 2;
      norm += y[i] ** 2;
    }
  }
  return Math.sqrt(diff) / Math.sqrt(norm);
}
