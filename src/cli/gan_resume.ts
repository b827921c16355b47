import type { ParameterStore } from '../graph/params.js';
import type { Optimizer } from '../optim/optimizers.js';
import { readKernelConfigs } from '../gpu/tune_record.js';
import type { FileToWrite } from '../io/atomic_write.js';
import type { GanResumePoint, GanTrainer } from '../train/gan.js';
import { continueRun } from '../train/optimizer_checkpoint.js';
import { checkCheckpoint, decodeSafetensors, encodeSafetensors } from '../train/safetensors.js';
import { ganCheckpointPaths, ganRunFiles } from './gan_checkpoint.js';
import { checkSameRun, readCheckpointPair, readResumePoint, ResumeError, resumeMetadata, type ResumePoint, type RunSettings } from './resume.js';

/**
 * `--checkpoint-every` and `--resume` for `train --model gan`. The GAN is saved at the end of the
 * epoch in which a checkpoint falls due, as the four files `--out` writes (generator,
 * discriminator, both Adam states) with a `resume` entry in the generator's metadata; a resumed
 * run starts the next epoch with the same shuffle and noise streams as the uninterrupted run.
 */

/** The resume entry of a GAN checkpoint: the common counts (steps done; the G step's runs and updates) and the rest of the position. */
export interface GanCheckpointPoint extends ResumePoint, GanResumePoint {}

/** The four files of a GAN checkpoint at `at` (epochs done, `iterations` per epoch), the generator's with the resume entry. */
export async function ganCheckpointFiles(gan: GanTrainer, out: string, recipe: Record<string, string>, at: GanResumePoint, o: { iterations: number; settings: RunSettings }): Promise<FileToWrite[]> {
  const point: GanCheckpointPoint = { steps: at.epoch * o.iterations, runs: at.gRuns, updates: at.gUpdates, settings: o.settings, ...at };
  const generator = decodeSafetensors(await gan.generatorCheckpoint());
  return [
    { path: out, data: encodeSafetensors([...generator.tensors.values()], { ...generator.metadata, ...resumeMetadata(point) }) },
    ...(await ganRunFiles(gan, out, recipe)),
  ];
}

/** A GAN checkpoint read and checked against this run's settings, before any GPU work. */
export interface SavedGanRun {
  path: string;
  point: GanCheckpointPoint;
  files: { generator: Uint8Array; discriminator: Uint8Array; generatorOptimizer: Uint8Array; discriminatorOptimizer: Uint8Array };
  kernels: Record<string, string> | undefined;
}

/** Reads `--resume path` and the three files beside it; a ResumeError if they are not this run's, or the run is complete. */
export async function readGanResume(path: string, settings: RunSettings, totalSteps: number): Promise<SavedGanRun> {
  const paths = ganCheckpointPaths(path);
  const first = await readCheckpointPair(path, paths.generatorOptimizer);
  const second = await readCheckpointPair(paths.discriminator, paths.discriminatorOptimizer).catch((e: unknown) => {
    throw e instanceof ResumeError ? new ResumeError(`--resume ${path}: ${e.message.replace(/^--resume \S+: /, '')}`) : e;
  });
  const { metadata } = decodeSafetensors(first.weights, { source: path });
  const point = readResumePoint(metadata, path);
  checkSameRun(path, point.settings, settings);
  const raw = JSON.parse(metadata.resume) as Record<string, unknown>;
  const counts = ['epoch', 'dRuns', 'dUpdates', 'gRuns', 'gUpdates'] as const;
  for (const key of counts) {
    const v = raw[key];
    if (!(typeof v === 'number' && Number.isInteger(v) && v >= 0)) throw new ResumeError(`--resume ${path}: 'resume.${key}' is ${JSON.stringify(v)}, not a non-negative integer`);
  }
  if (point.steps >= totalSteps) throw new ResumeError(`--resume ${path}: the checkpoint is at step ${point.steps} of ${totalSteps}; that run is complete`);
  const at = Object.fromEntries(counts.map((k) => [k, raw[k] as number])) as unknown as GanResumePoint;
  const files = { generator: first.weights, generatorOptimizer: first.optimizer, discriminator: second.weights, discriminatorOptimizer: second.optimizer };
  return { path, point: { ...point, ...at }, files, kernels: readKernelConfigs(metadata, path) };
}

/** Loads a checkpoint's weights and Adam states into the GAN's stores (all checked first, then written). */
export function loadGanResume(saved: SavedGanRun, gan: GanTrainer): void {
  const paths = ganCheckpointPaths(saved.path);
  const { generatorStore, discriminatorStore, options } = gan;
  const g = networkState(saved.files.generator, saved.path, saved.files.generatorOptimizer, paths.generatorOptimizer, generatorStore, options.optimizerG, 'G.');
  const d = networkState(saved.files.discriminator, paths.discriminator, saved.files.discriminatorOptimizer, paths.discriminatorOptimizer, discriminatorStore, options.optimizerD, 'D.');
  g();
  d();
}

/** Checks one network's weights and optimizer files against its store; returns what writes them into it. */
function networkState(weights: Uint8Array, weightsPath: string, state: Uint8Array, statePath: string, store: ParameterStore, optimizer: Optimizer, prefix: string): () => void {
  const w = decodeSafetensors(weights, { source: weightsPath, requireFinite: true });
  const s = decodeSafetensors(state, { source: statePath, requireFinite: true });
  if (s.metadata.content !== 'optimizer' || s.metadata.optimizer !== optimizer.name) {
    throw new ResumeError(`--resume: ${statePath} holds ${s.metadata.content === 'optimizer' ? `${s.metadata.optimizer} state` : 'no optimizer state'}, but the GAN trains with ${optimizer.name}`);
  }
  for (const key of ['run_id', 'step'] as const) {
    if (w.metadata[key] !== s.metadata[key]) {
      throw new ResumeError(`--resume: ${weightsPath}'s ${key} is ${w.metadata[key]} but ${statePath}'s is ${s.metadata[key]}: not files one checkpoint wrote together; resume from the files of one checkpoint`);
    }
  }
  const unprefixed = (name: string) => name.slice(prefix.length);
  checkCheckpoint(new Map(store.stateDict.map((p) => [unprefixed(p.name), p.shape])), w.tensors);
  const expected = new Map<string, readonly number[]>();
  for (const key of optimizer.stateKeys) for (const p of store.list) expected.set(`${unprefixed(p.name)}.${key}`, p.shape);
  checkCheckpoint(expected, s.tensors);
  return () => {
    for (const p of store.stateDict) store.write(p.name, w.tensors.get(unprefixed(p.name))!.data);
    for (const key of optimizer.stateKeys) for (const p of store.list) store.writeState(key, p.name, s.tensors.get(`${unprefixed(p.name)}.${key}`)!.data);
    store.setOptimizerSteps(Number(s.metadata.step));
    continueRun(store, w.metadata.run_id);
  };
}
