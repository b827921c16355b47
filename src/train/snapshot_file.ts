import type { ParameterStore } from '../graph/params.js';
import type { Optimizer } from '../optim/optimizers.js';
import { FileWriteError, outputPathProblem, writeFileAtomically } from '../io/atomic_write.js';
import { MAX_CHECKPOINT_FILE_BYTES } from '../io/limits.js';
import { readFileWithin } from '../io/read_bounded.js';
import type { SnapshotTarget, TrainingSnapshot } from './auto_checkpoint.js';
import { checkCheckpoint, CheckpointError, decodeSafetensors, encodeSafetensors, type NamedTensor } from './safetensors.js';

/**
 * A snapshot as safetensors: weights and buffers named as `Trainer.checkpoint` names them,
 * optimizer state as `Trainer.optimizerCheckpoint` does (`<parameter>.exp_avg`, …), and the
 * position, step counts and metric sums in the metadata (`content: training-snapshot`).
 */
export function encodeSnapshot(s: TrainingSnapshot, store: ParameterStore): Uint8Array {
  const tensors: NamedTensor[] = [];
  for (const p of store.list) tensors.push({ name: p.name, shape: p.shape, data: s.parameters.slice(p.offset, p.offset + p.size) });
  for (const b of store.buffers) tensors.push({ name: b.name, shape: b.shape, data: s.buffers.slice(b.offset, b.offset + b.size) });
  for (const [key, flat] of Object.entries(s.state)) {
    for (const p of store.list) tensors.push({ name: `${p.name}.${key}`, shape: p.shape, data: flat.slice(p.offset, p.offset + p.size) });
  }
  return encodeSafetensors(tensors, {
    format: 'pt',
    content: 'training-snapshot',
    optimizer: s.optimizer,
    step: String(s.optimizerSteps),
    runs: String(s.runs),
    updates: String(s.updates),
    epoch: String(s.position.epoch),
    epoch_step: String(s.position.step),
    global_step: String(s.position.global),
    sums: JSON.stringify([...s.sums]),
    kernels: JSON.stringify(s.kernels),
  });
}

/** Reads what `encodeSnapshot` wrote, for a model with `store`'s layout trained with `optimizer`. */
export function decodeSnapshot(bytes: Uint8Array, store: ParameterStore, optimizer: Optimizer, source = 'snapshot'): TrainingSnapshot {
  const { tensors, metadata } = decodeSafetensors(bytes, { source, requireFinite: true });
  if (metadata.content !== 'training-snapshot') throw new CheckpointError(`${source}: not a training snapshot (its metadata lacks content=training-snapshot)`);
  if (metadata.optimizer !== optimizer.name) throw new CheckpointError(`${source}: holds ${metadata.optimizer} state, but this model trains with ${optimizer.name}`);
  const count = (field: string) => {
    const v = Number(metadata[field]);
    if (!(Number.isInteger(v) && v >= 0)) throw new CheckpointError(`${source}: metadata '${field}' is '${metadata[field]}', not a non-negative integer`);
    return v;
  };
  let sums: Float32Array;
  try {
    const list: unknown = JSON.parse(metadata.sums ?? '');
    if (!Array.isArray(list) || !list.every((v) => typeof v === 'number')) throw new Error();
    sums = Float32Array.from(list as number[]);
  } catch {
    throw new CheckpointError(`${source}: metadata 'sums' is '${metadata.sums}', not a JSON list of numbers`);
  }
  let kernels: Record<string, string>;
  try {
    const parsed: unknown = JSON.parse(metadata.kernels ?? '{}');
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || !Object.values(parsed).every((v) => typeof v === 'string')) throw new Error();
    kernels = parsed as Record<string, string>;
  } catch {
    throw new CheckpointError(`${source}: metadata 'kernels' is '${metadata.kernels}', not a JSON object of kernel choices`);
  }
  const expected = new Map<string, readonly number[]>();
  for (const p of store.stateDict) expected.set(p.name, p.shape);
  for (const key of optimizer.stateKeys) for (const p of store.list) expected.set(`${p.name}.${key}`, p.shape);
  checkCheckpoint(expected, tensors);
  const parameters = new Float32Array(store.length);
  for (const p of store.list) parameters.set(tensors.get(p.name)!.data, p.offset);
  const buffers = new Float32Array(store.bufferStorage.size / 4);
  for (const b of store.buffers) buffers.set(tensors.get(b.name)!.data, b.offset);
  const state: Record<string, Float32Array> = {};
  for (const key of optimizer.stateKeys) {
    state[key] = new Float32Array(store.length);
    for (const p of store.list) state[key].set(tensors.get(`${p.name}.${key}`)!.data, p.offset);
  }
  const position = { epoch: count('epoch'), step: count('epoch_step'), global: count('global_step') };
  return { position, sums, optimizer: optimizer.name, optimizerSteps: count('step'), runs: count('runs'), updates: count('updates'), parameters, buffers, state, kernels };
}

/** Throws a FileWriteError before training if a file target cannot take the snapshot. */
export async function checkSnapshotTarget(target: SnapshotTarget): Promise<void> {
  if (!('file' in target)) return;
  const problem = await outputPathProblem(target.file);
  if (problem) throw new FileWriteError(target.file, undefined, `autoCheckpoint.target: ${problem}`);
}

/**
 * Persists the newest snapshot offered, one write at a time: a snapshot offered while the last
 * is being written waits, and is replaced by any newer one, so a slow disk never queues work.
 * A failed write is kept and raised by `rethrow` (the loop calls it between steps).
 */
export class SnapshotWriter<T = Uint8Array> {
  private writing: Promise<void> | undefined;
  private next: T | undefined;
  private failure: { error: unknown } | undefined;

  constructor(private readonly write: (item: T) => Promise<void>) {}

  offer(item: T): void {
    this.next = item;
    this.writing ??= this.drain();
  }

  rethrow(): void {
    if (this.failure) throw this.failure.error;
  }

  /** Waits for the writes in progress (their errors are kept for `rethrow`). */
  async settle(): Promise<void> {
    await this.writing;
  }

  private async drain(): Promise<void> {
    try {
      while (this.next !== undefined && !this.failure) {
        const item = this.next;
        this.next = undefined;
        await this.write(item).catch((error: unknown) => {
          this.failure ??= { error };
        });
      }
    } finally {
      this.writing = undefined;
    }
  }
}

/** Writes snapshot bytes to `target`: atomically to a file in Node, into IndexedDB in the browser. */
export async function writeSnapshot(target: SnapshotTarget, bytes: Uint8Array): Promise<void> {
  if ('file' in target) return writeFileAtomically(target.file, bytes);
  const db = await openSnapshotDb();
  try {
    await new Promise<void>((resolve, reject) => {
      const tx = db.transaction(STORE, 'readwrite');
      tx.objectStore(STORE).put(bytes, target.indexedDB);
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

/** The bytes last written to `target`, or undefined if none were. */
export async function readSnapshot(target: SnapshotTarget): Promise<Uint8Array | undefined> {
  if ('file' in target) {
    return readFileWithin(target.file, { limit: MAX_CHECKPOINT_FILE_BYTES, limitName: 'MAX_CHECKPOINT_FILE_BYTES', error: CheckpointError, missingOk: true });
  }
  const db = await openSnapshotDb();
  try {
    return await new Promise((resolve, reject) => {
      const request = db.transaction(STORE, 'readonly').objectStore(STORE).get(target.indexedDB);
      request.onsuccess = () => resolve(request.result as Uint8Array | undefined);
      request.onerror = () => reject(request.error);
    });
  } finally {
    db.close();
  }
}

// A database of its own: the autotuner's ('webgpu-dl', version 1) would need a version bump.
const DB = 'webgpu-dl-snapshots';
const STORE = 'snapshots';

function openSnapshotDb(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}
