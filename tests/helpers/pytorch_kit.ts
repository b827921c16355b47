import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'vitest';
import { decodeSafetensors } from '../../src/train/safetensors.js';
import { PYTHON } from './parity.js';

/** A JSON line of the kit's train.py (step, done, warning, … events). */
export interface StepLine {
  event: string;
  step: number;
  lr: number;
  loss: number;
  processes?: number;
  device?: string;
}

/**
 * torchrun's arguments for `processes` local processes. Not `--standalone`, whose rendezvous always
 * listens on port 29400, so two test files running torchrun at once collide ("Address already in
 * use"): a static rendezvous on a port the OS reports free instead.
 */
export function torchrunLauncher(processes: number): string[] {
  const free = 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()';
  const port = execFileSync(PYTHON, ['-c', free], { encoding: 'utf8' }).trim();
  // --redirects/--tee 2: Debian's torch 1.13 on Python 3.11 cannot parse their default (see the kit's README).
  return ['-m', 'torch.distributed.run', '--nnodes', '1', '--nproc_per_node', String(processes), '--master_addr', '127.0.0.1', '--master_port', port, '--redirects', '2', '--tee', '2'];
}

/**
 * Runs an exported kit's train.py (or torchrun over it with `processes` > 1); its JSON lines.
 * A two-process gloo run sometimes stalls on a heavily loaded CPU (cause not yet found), so the
 * torchrun tests are retried once; a wrong result fails both tries.
 */
export function trainPy(kit: string, args: string[], processes = 1): StepLine[] {
  const script = join(kit, 'train.py');
  const launcher = processes === 1 ? [] : torchrunLauncher(processes);
  const argv = processes === 1 ? [script, ...args] : [...launcher, script, ...args];
  const stdout = execFileSync(PYTHON, argv, { cwd: kit, encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', OMP_NUM_THREADS: '1' }, timeout: 120_000 });
  return stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as StepLine);
}

/** Every tensor of a safetensors file, concatenated in name order, in float64. */
export function flatTensors(bytes: Uint8Array): Float64Array {
  const { tensors } = decodeSafetensors(bytes);
  return Float64Array.from([...tensors.keys()].sort().flatMap((n) => Array.from(tensors.get(n)!.data)));
}

export const change = (after: Float64Array, before: Float64Array) => after.map((v, i) => v - before[i]);
export const norm = (v: Float64Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
/** ‖a − b‖ / ‖b‖. */
export const relativeNormError = (a: Float64Array, b: Float64Array) => norm(a.map((v, i) => v - b[i])) / norm(b);

/**
 * train.py resumed from a 1-epoch, 4-step run for one step on the fixed batch `indices`, on a
 * cosine carried on over `epochs` epochs, saving to `out`; checks it took global step 4 (0-based) of
 * epochs × 4 at the cosine's rate from `lr`, and returns that step's line and the rate expected.
 */
export function resumeOneCosineStep(kit: string, o: { data: string; epochs: number; indices: readonly number[]; out: string; lr: number }): { line: StepLine; lr: number } {
  const lines = trainPy(kit, ['--data', o.data, '--epochs', String(o.epochs), '--steps', '1', '--batch-indices', o.indices.join(','), '--save', o.out]);
  const steps = lines.filter((l) => l.event === 'step');
  expect(steps.length).toBe(1);
  const lr = (o.lr * (1 + Math.cos((Math.PI * 4) / (o.epochs * 4)))) / 2;
  expect(steps[0].step).toBe(5);
  expect(Math.abs(steps[0].lr - lr)).toBeLessThan(1e-12);
  return { line: steps[0], lr };
}
