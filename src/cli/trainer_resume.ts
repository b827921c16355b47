import { kernelConfigsJson, KERNEL_CONFIGS_KEY, readKernelConfigs } from '../gpu/tune_record.js';
import { writeFilesAtomically } from '../io/atomic_write.js';
import type { ParameterStore } from '../graph/params.js';
import type { Optimizer } from '../optim/optimizers.js';
import type { TrainingSnapshot } from '../train/auto_checkpoint.js';
import { runMetadata } from '../train/optimizer_checkpoint.js';
import { checkCheckpoint, decodeSafetensors, encodeSafetensors, type NamedTensor } from '../train/safetensors.js';
import type { Trainer } from '../train/trainer.js';
import { optimizerPath } from './output_paths.js';
import { checkSameRun, readCheckpointPair, readResumePoint, ResumeError, resumeMetadata, type ResumePoint, type RunSettings } from './resume.js';

/**
 * `--checkpoint-every` and `--resume` for the runs a `Trainer` trains (mlp, cnn, resnet). The
 * Trainer snapshots its whole state at step boundaries without stalling (`autoCheckpoint`); each
 * snapshot is written as the pair `--out` writes at the end (weights loadable by PyTorch,
 * optimizer state), with a `resume` entry that also holds the position in the epoch and the
 * epoch's metric sums so far, so a resumed run reports that epoch as the uninterrupted run would.
 */

/** Where in its epochs a Trainer checkpoint was saved, beside the counts every resume entry has. */
export interface TrainerResumePoint extends ResumePoint {
  epoch: number;
  epochStep: number;
  sums: number[];
}

/** What the CLI writes with every checkpoint of a Trainer run. */
export interface TrainerCheckpointFiles {
  out: string;
  /** Metadata of the weights file (model, configuration, recipe) and of the optimizer file. */
  weights: Record<string, string>;
  optimizer: Record<string, string>;
  settings: RunSettings;
}

/** The weights and optimizer files of snapshot `s`, named and laid out as `Trainer.checkpoint` and `optimizerCheckpoint` write them. */
export function snapshotFiles(s: TrainingSnapshot, store: ParameterStore, optimizer: Optimizer, files: TrainerCheckpointFiles): { path: string; data: Uint8Array }[] {
  // The pair's keys as the Trainer's own writers set them, but for the snapshot's step and kernels.
  const pair = { run_id: runMetadata(store).run_id, step: String(s.optimizerSteps), [KERNEL_CONFIGS_KEY]: kernelConfigsJson(s.kernels) };
  const point: TrainerResumePoint = {
    steps: s.position.global,
    runs: s.runs,
    updates: s.updates,
    settings: files.settings,
    epoch: s.position.epoch,
    epochStep: s.position.step,
    sums: [...s.sums],
  };
  const weights: NamedTensor[] = store.stateDict.map((p) => {
    const flat = store.isBuffer(p.name) ? s.buffers : s.parameters;
    return { name: p.name, shape: p.shape, data: flat.slice(p.offset, p.offset + p.size) };
  });
  const state: NamedTensor[] = [];
  for (const key of optimizer.stateKeys) {
    for (const p of store.list) state.push({ name: `${p.name}.${key}`, shape: p.shape, data: s.state[key].slice(p.offset, p.offset + p.size) });
  }
  return [
    { path: files.out, data: encodeSafetensors(weights, { format: 'pt', ...files.weights, ...pair, ...resumeMetadata(point) }) },
    { path: optimizerPath(files.out), data: encodeSafetensors(state, { ...files.optimizer, format: 'pt', content: 'optimizer', optimizer: optimizer.name, ...pair }) },
  ];
}

/**
 * What the Trainer's `autoCheckpoint.onSnapshot` does for `--checkpoint-every`: writes each
 * snapshot's pair atomically and says so. The snapshot of step 0 (the starting weights) is not
 * written: resuming from it is starting again.
 */
export function checkpointWriter(trainer: () => Trainer, files: TrainerCheckpointFiles, say: (line: string) => void): (s: TrainingSnapshot) => Promise<void> {
  return async (s) => {
    if (s.position.global === 0) return;
    const t = trainer();
    await writeFilesAtomically(snapshotFiles(s, t.store, t.requireOptimizer('--checkpoint-every'), files));
    say(`webgpu-dl: checkpoint at step ${s.position.global} (epoch ${s.position.epoch}, step ${s.position.step}) saved to ${files.out}`);
  };
}

/** The files `--out` writes when the run ends, with the resume entry that marks it complete. */
export async function finalFiles(trainer: Trainer, files: TrainerCheckpointFiles, o: { epochs: number; stepsPerEpoch: number }): Promise<{ path: string; data: Uint8Array }[]> {
  const counts = trainer.fitCounts!;
  const point: TrainerResumePoint = { steps: o.epochs * o.stepsPerEpoch, ...counts, settings: files.settings, epoch: o.epochs, epochStep: o.stepsPerEpoch, sums: [] };
  return [
    { path: files.out, data: await trainer.checkpoint({ ...files.weights, ...resumeMetadata(point) }) },
    { path: optimizerPath(files.out), data: await trainer.optimizerCheckpoint(files.optimizer) },
  ];
}

/** A checkpoint read and checked against this run's settings, before any GPU work. */
export interface SavedTrainerRun {
  path: string;
  point: TrainerResumePoint;
  weights: Uint8Array;
  optimizer: Uint8Array;
}

/** Reads `--resume path` and its optimizer file; a ResumeError if it is not this run's, or the run is complete. */
export async function readTrainerResume(path: string, settings: RunSettings, totalSteps: number): Promise<SavedTrainerRun> {
  const { weights, optimizer } = await readCheckpointPair(path, optimizerPath(path));
  const { metadata } = decodeSafetensors(weights, { source: path });
  const point = readResumePoint(metadata, path);
  checkSameRun(path, point.settings, settings);
  const raw = JSON.parse(metadata.resume) as Record<string, unknown>;
  const { epoch, epochStep, sums } = raw;
  const whole = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  if (!whole(epoch) || (epoch as number) < 1 || !whole(epochStep)) {
    throw new ResumeError(`--resume ${path}: 'resume.epoch' ${JSON.stringify(epoch)} and 'resume.epochStep' ${JSON.stringify(epochStep)} must be an epoch (from 1) and the steps done in it`);
  }
  if (!Array.isArray(sums) || !sums.every((v) => typeof v === 'number')) throw new ResumeError(`--resume ${path}: 'resume.sums' must be a JSON list of numbers (the epoch's metric sums so far)`);
  if (point.steps >= totalSteps) throw new ResumeError(`--resume ${path}: the checkpoint is at step ${point.steps} of ${totalSteps}; that run is complete`);
  return { path, point: { ...point, epoch: epoch as number, epochStep: epochStep as number, sums: sums as number[] }, weights, optimizer };
}

/** The snapshot `fit({ resumeFrom })` continues from: the pair's tensors laid out as `store`, which must be the model's. */
export function resumeSnapshot(saved: SavedTrainerRun, store: ParameterStore, optimizer: Optimizer): TrainingSnapshot {
  const optimizerFile = optimizerPath(saved.path);
  const w = decodeSafetensors(saved.weights, { source: saved.path, requireFinite: true });
  const o = decodeSafetensors(saved.optimizer, { source: optimizerFile, requireFinite: true });
  if (o.metadata.content !== 'optimizer' || o.metadata.optimizer !== optimizer.name) {
    throw new ResumeError(`--resume ${saved.path}: ${optimizerFile} holds ${o.metadata.content === 'optimizer' ? `${o.metadata.optimizer} state` : 'no optimizer state'}, but this run trains with ${optimizer.name}`);
  }
  for (const key of ['run_id', 'step'] as const) {
    if (w.metadata[key] !== o.metadata[key]) {
      throw new ResumeError(`--resume ${saved.path}: its ${key} is ${w.metadata[key]} but ${optimizerFile}'s is ${o.metadata[key]}: not a pair one checkpoint wrote together; resume from the files of one checkpoint`);
    }
  }
  const optimizerSteps = Number(w.metadata.step);
  if (!(Number.isInteger(optimizerSteps) && optimizerSteps >= 0)) throw new ResumeError(`--resume ${saved.path}: its step count '${w.metadata.step}' is not a non-negative integer`);
  checkCheckpoint(new Map(store.stateDict.map((p) => [p.name, p.shape])), w.tensors);
  const expected = new Map<string, readonly number[]>();
  for (const key of optimizer.stateKeys) for (const p of store.list) expected.set(`${p.name}.${key}`, p.shape);
  checkCheckpoint(expected, o.tensors);
  const parameters = new Float32Array(store.length);
  const buffers = new Float32Array(store.bufferStorage.size / 4);
  for (const p of store.stateDict) (store.isBuffer(p.name) ? buffers : parameters).set(w.tensors.get(p.name)!.data, p.offset);
  const state: Record<string, Float32Array> = {};
  for (const key of optimizer.stateKeys) {
    state[key] = new Float32Array(store.length);
    for (const p of store.list) state[key].set(o.tensors.get(`${p.name}.${key}`)!.data, p.offset);
  }
  const { point } = saved;
  return {
    position: { epoch: point.epoch, step: point.epochStep, global: point.steps },
    sums: Float32Array.from(point.sums),
    optimizer: optimizer.name,
    optimizerSteps,
    runs: point.runs,
    updates: point.updates,
    parameters,
    buffers,
    state,
    kernels: readKernelConfigs(w.metadata, saved.path) ?? {},
    runId: w.metadata.run_id,
  };
}

/** The settings of a Trainer run a resumed one must share: the model, the data and the flags given as `flags`. */
export function trainerRunSettings(model: string, data: string, flags: Record<string, unknown>): RunSettings {
  const text = (v: unknown) => (v === undefined ? '(not set)' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  return { model, data, ...Object.fromEntries(Object.entries(flags).map(([k, v]) => [`--${k}`, text(v)])) };
}
