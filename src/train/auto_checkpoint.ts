import type { Engine } from '../gpu/engine.js';
import { ShapeError } from '../gpu/errors.js';
import type { CompiledStep } from '../graph/compile.js';
import type { ParameterStore } from '../graph/params.js';
import type { Optimizer } from '../optim/optimizers.js';
import type { MetricSums } from './metric_sums.js';

/** Where a training loop stands between two steps. */
export interface LoopPosition {
  /** The epoch, from 1. */
  epoch: number;
  /** Steps done in that epoch. */
  step: number;
  /** Steps done since the loop began (over every epoch). */
  global: number;
}

/**
 * Everything a training run needs to continue bit for bit from a step boundary: weights, running
 * statistics and optimizer state (flat, as the parameter store lays them out), Adam's step count,
 * the step's run count (the random streams of dropout masks), the loop position (which fixes the
 * epoch's shuffle, the augmentation draws and the schedule) and the epoch's metric sums so far.
 */
export interface TrainingSnapshot {
  position: LoopPosition;
  /** The metric sums' state (`MetricSums.copyTo`); empty before an epoch's first step. */
  sums: Float32Array;
  optimizer: string;
  optimizerSteps: number;
  /** The training step's runs and updates (`CompiledStep.runCount`, `step`). */
  runs: number;
  updates: number;
  parameters: Float32Array;
  buffers: Float32Array;
  state: Record<string, Float32Array>;
  /** The autotuner's kernel choices by shape class (`Autotuner.choices`), for `Autotuner.adopt`. */
  kernels: Record<string, string>;
  /** The run id of the checkpoint this snapshot was read from; a run resumed from it keeps that id. */
  runId?: string;
}

/** Where an auto-checkpoint persists besides memory: a file in Node, an IndexedDB key in the browser. */
export type SnapshotTarget = { file: string } | { indexedDB: string };

/** `TrainerOptions.autoCheckpoint`: how often to snapshot the training state, where to write it, and how many device losses to recover from. */
export interface AutoCheckpointOptions {
  /** A snapshot is taken after every `everySteps` steps (a positive integer). */
  everySteps: number;
  /** Also write the last complete snapshot here (safetensors; see `encodeSnapshot`). */
  target?: SnapshotTarget;
  /**
   * Persists snapshots in a format of the caller's (in place of `target`): called with the newest
   * snapshot, one call at a time (a newer snapshot replaces one still waiting, so a slow write is
   * never queued behind); a rejection stops fit with that error at its next step.
   */
  onSnapshot?: (s: TrainingSnapshot) => Promise<void>;
  /** Device losses in a row, with no new snapshot between them, before fit gives up (default 3). */
  maxRecoveries?: number;
}

/** Throws a ShapeError naming the bad field unless `o` is usable. */
export function checkAutoCheckpoint(o: AutoCheckpointOptions): void {
  if (!Number.isInteger(o.everySteps) || o.everySteps < 1) {
    throw new ShapeError(`autoCheckpoint.everySteps ${o.everySteps} must be a positive integer (steps between snapshots)`);
  }
  if (o.maxRecoveries !== undefined && (!Number.isInteger(o.maxRecoveries) || o.maxRecoveries < 1)) {
    throw new ShapeError(`autoCheckpoint.maxRecoveries ${o.maxRecoveries} must be a positive integer`);
  }
  if (o.onSnapshot !== undefined && typeof o.onSnapshot !== 'function') throw new ShapeError(`autoCheckpoint.onSnapshot must be a function, got ${typeof o.onSnapshot}`);
  if (o.onSnapshot !== undefined && o.target !== undefined) throw new ShapeError('autoCheckpoint: give target or onSnapshot, not both (onSnapshot writes the snapshots itself)');
  const t = o.target as Record<string, unknown> | undefined;
  if (t !== undefined && !(typeof t.file === 'string' && t.file) && !(typeof t.indexedDB === 'string' && t.indexedDB)) {
    throw new ShapeError(`autoCheckpoint.target must be { file: 'path' } or { indexedDB: 'key' }, got ${JSON.stringify(t)}`);
  }
}

/**
 * Throws a ShapeError unless `s` can start a loop of `epochs` epochs of `stepsPerEpoch` steps: a
 * snapshot of a run with another batch size or dataset size fails here, by its position.
 */
export function checkResumePosition(s: TrainingSnapshot, epochs: number, stepsPerEpoch: number): void {
  const { epoch, step, global } = s.position;
  if (!(epoch >= 1 && epoch <= epochs && step <= stepsPerEpoch && global === (epoch - 1) * stepsPerEpoch + step)) {
    throw new ShapeError(
      `fit: resumeFrom is at epoch ${epoch}, step ${step} (step ${global} overall), which is not a position of this fit ` +
        `(${epochs} epochs of ${stepsPerEpoch} steps); resume with the epochs, batch size and data of the run that saved it`,
    );
  }
}

interface Slot {
  buffer: GPUBuffer;
  busy: boolean;
}

/**
 * Takes snapshots without stalling the loop: at a snapshot boundary the step's own command buffer
 * also copies the flat parameter, buffer and optimizer-state buffers and the metric sums into a
 * free staging buffer, which is mapped once the GPU gets there. Two staging buffers, made up front:
 * if both are still mapping at a boundary, that snapshot is skipped (the next one is `everySteps`
 * later). Its buffers belong to one device; after a recovery, make a new one.
 */
export class SnapshotRing {
  private readonly slots: Slot[] = [];
  private readonly layout: { parameters: number; buffers: number; state: [string, number][]; sums: number; bytes: number };

  constructor(
    private readonly engine: Engine,
    private readonly store: ParameterStore,
    private readonly optimizer: Optimizer,
    sumNames: readonly string[],
    private readonly keep: (s: TrainingSnapshot) => void,
  ) {
    let at = 0;
    const take = (bytes: number) => ((at += bytes), at - bytes);
    const parameters = take(store.length * 4);
    const buffers = take(store.bufferStorage.size);
    const state = optimizer.stateKeys.map((k): [string, number] => [k, take(store.length * 4)]);
    // Room for the sums and, when they are guarded, their first positive steps (MetricSums.stateBytes).
    const sums = take(Math.max(1, sumNames.length) * 8);
    this.layout = { parameters, buffers, state, sums, bytes: at };
    for (let i = 0; i < 2; i++) {
      const buffer = engine.buffers.create(at, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, `snapshot staging ${i}`);
      this.slots.push({ buffer, busy: false });
    }
  }

  /**
   * Records the copies of a snapshot at `position` into `encoder` (the one `step` just recorded
   * into, after its pass; `sums` are the loop's metric sums). Call the returned function after the
   * encoder's submit: it maps the copy and hands the snapshot to `keep` when it arrives. Undefined
   * when no staging buffer is free.
   */
  capture(encoder: GPUCommandEncoder, position: LoopPosition, step: CompiledStep<string>, sums: MetricSums | undefined): (() => Promise<void>) | undefined {
    const { store, layout } = this;
    // Without sums (before the first step) the epoch starts with its sums reset.
    const sumsBytes = sums?.stateBytes ?? 0;
    if (sumsBytes > layout.bytes - layout.sums) throw new ShapeError(`snapshot: metric sums of ${sumsBytes} bytes exceed the ${layout.bytes - layout.sums} kept for them`);
    const slot = this.slots.find((s) => !s.busy);
    if (!slot) return undefined;
    slot.busy = true;
    encoder.copyBufferToBuffer(store.paramBuffer, 0, slot.buffer, layout.parameters, store.length * 4);
    encoder.copyBufferToBuffer(store.bufferStorage, 0, slot.buffer, layout.buffers, store.bufferStorage.size);
    for (const [key, offset] of layout.state) encoder.copyBufferToBuffer(store.state(key), 0, slot.buffer, offset, store.length * 4);
    if (sums) sums.copyTo(encoder, slot.buffer, layout.sums);
    // The step count is read now, when the steps it counts are recorded, not when the copy arrives.
    const [optimizerSteps, runs, updates] = [store.optimizerSteps, step.runCount, step.step];
    const kernels = this.engine.tuner.choices;
    return async () => {
      try {
        await slot.buffer.mapAsync(GPUMapMode.READ);
        const bytes = slot.buffer.getMappedRange().slice(0);
        slot.buffer.unmap();
        const floats = (offset: number, length: number) => new Float32Array(bytes, offset, length);
        this.keep({
          position: { ...position },
          sums: floats(layout.sums, sumsBytes / 4),
          optimizer: this.optimizer.name,
          optimizerSteps,
          runs,
          updates,
          parameters: floats(layout.parameters, store.length),
          buffers: floats(layout.buffers, store.bufferStorage.size / 4),
          state: Object.fromEntries(layout.state.map(([k, offset]) => [k, floats(offset, store.length)])),
          kernels,
        });
      } finally {
        slot.busy = false;
      }
    };
  }

  /** Frees the snapshot ring's staging buffers. */
  dispose(): void {
    for (const s of this.slots) this.engine.buffers.destroy(s.buffer);
    this.slots.length = 0;
  }
}

/**
 * Writes a snapshot into a freshly allocated store and step: values, buffers and optimizer state,
 * the update count and the step's run count. The store must have the snapshot's layout.
 */
export function restoreSnapshot(s: TrainingSnapshot, store: ParameterStore, optimizer: Optimizer, step: CompiledStep<string>): void {
  if (s.optimizer !== optimizer.name) throw new ShapeError(`snapshot holds ${s.optimizer} state, but this model trains with ${optimizer.name}`);
  if (s.parameters.length !== store.length || s.buffers.length * 4 !== store.bufferStorage.size) {
    throw new ShapeError(`snapshot holds ${s.parameters.length} parameter and ${s.buffers.length} buffer values; this model has ${store.length} and ${store.bufferStorage.size / 4}`);
  }
  const engine = store.engine;
  engine.upload(store.paramBuffer, s.parameters);
  engine.upload(store.bufferStorage, s.buffers);
  for (const key of optimizer.stateKeys) engine.upload(store.state(key), s.state[key]);
  store.setOptimizerSteps(s.optimizerSteps);
  step.continueFrom(s.runs, s.updates);
}
