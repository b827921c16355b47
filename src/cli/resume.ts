import { createHash } from 'node:crypto';
import { WebGPUDLError } from '../gpu/errors.js';
import { MAX_CHECKPOINT_FILE_BYTES } from '../io/limits.js';
import { readFileWithin } from '../io/read_bounded.js';
import { CheckpointError } from '../train/safetensors.js';

/**
 * Resuming a training run from the checkpoint files it wrote every N steps. A checkpoint is the
 * pair `--out` writes at the end (weights, optimizer state), written together atomically, with a
 * `resume` entry in the weights' metadata: how far the run got and the settings that decide its
 * result. A run resumed from it must have the same settings, so that it goes on exactly as the
 * interrupted run would have: any difference is refused, naming the setting, rather than mixed in.
 */

/** A checkpoint cannot resume this run: not one written to resume from, or another run's. */
export class ResumeError extends WebGPUDLError {
  override name = 'ResumeError';
}

/** The metadata key of the resume entry. */
export const RESUME_KEY = 'resume';

/**
 * The settings a resumed run must share with the one that saved the checkpoint, by the name the
 * user knows them by (a flag, `data`), as text. Insertion order is the order they are checked in.
 */
export type RunSettings = Record<string, string>;

/** How far a run got when its checkpoint was written. */
export interface ResumePoint {
  /** Training steps done (the loop resumes with step `steps`, counting from 0). */
  steps: number;
  /** The compiled training step's runs and updates (its random streams and update numbering). */
  runs: number;
  updates: number;
  settings: RunSettings;
}

/** The resume entry of a checkpoint's metadata. */
export function resumeMetadata(point: ResumePoint): Record<string, string> {
  return { [RESUME_KEY]: JSON.stringify(point) };
}

/** Reads the resume entry of `source`'s metadata; a ResumeError says why it cannot be resumed from. */
export function readResumePoint(metadata: Readonly<Record<string, string>>, source: string): ResumePoint {
  const text = metadata[RESUME_KEY];
  if (text === undefined) {
    throw new ResumeError(`--resume ${source}: not a checkpoint to resume from (its metadata has no '${RESUME_KEY}' entry); resume from the --out file of a run with --checkpoint-every N`);
  }
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error('not an object');
  } catch (e) {
    throw new ResumeError(`--resume ${source}: the metadata's '${RESUME_KEY}' entry is not a JSON object (${(e as Error).message})`);
  }
  const count = (field: 'steps' | 'runs' | 'updates') => {
    const v = raw[field];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new ResumeError(`--resume ${source}: '${RESUME_KEY}.${field}' is ${JSON.stringify(v)}, not a non-negative integer`);
    return v;
  };
  const settings = raw.settings;
  if (settings === null || typeof settings !== 'object' || Array.isArray(settings) || !Object.values(settings).every((v) => typeof v === 'string')) {
    throw new ResumeError(`--resume ${source}: '${RESUME_KEY}.settings' must be a JSON object of strings`);
  }
  return { steps: count('steps'), runs: count('runs'), updates: count('updates'), settings: { ...(settings as RunSettings) } };
}

/**
 * Throws a ResumeError naming the first setting in which the checkpoint's run and this one differ
 * (a setting either lacks counts as a difference), with both values and the fix.
 */
export function checkSameRun(source: string, saved: RunSettings, wanted: RunSettings): void {
  for (const key of new Set([...Object.keys(wanted), ...Object.keys(saved)])) {
    const [was, is] = [saved[key] ?? '(not set)', wanted[key] ?? '(not set)'];
    if (was === is) continue;
    throw new ResumeError(`--resume ${source}: the checkpoint was saved by a run with ${key} ${was}, this run has ${key} ${is}; resume with the settings and data of the run that saved it`);
  }
}

/**
 * Identifies data by content: the SHA-256 and length of its bytes (of `parts` in order, e.g. images
 * then labels), so that another or an edited file is caught whatever its name.
 */
export function dataFingerprint(...parts: Uint8Array[]): string {
  const hash = createHash('sha256');
  for (const p of parts) hash.update(p);
  return `sha256 ${hash.digest('hex')} (${parts.reduce((n, p) => n + p.length, 0)} bytes)`;
}

/** Whether a checkpoint is due after `done` steps, when one is asked for every `every` steps. */
export function checkpointDue(done: number, every: number | undefined): boolean {
  return every !== undefined && done % every === 0;
}

/** Reads a checkpoint's two files (weights, optimizer state); a missing one is a ResumeError naming it. */
export async function readCheckpointPair(weightsPath: string, optimizerPath: string): Promise<{ weights: Uint8Array; optimizer: Uint8Array }> {
  const read = async (path: string) => {
    const bytes = await readFileWithin(path, { limit: MAX_CHECKPOINT_FILE_BYTES, limitName: 'MAX_CHECKPOINT_FILE_BYTES', error: CheckpointError, label: path, missingOk: true });
    if (!bytes) throw new ResumeError(`--resume ${weightsPath}: ${path} is missing; a checkpoint is the weights file and its optimizer state ${optimizerPath}, as --out writes them`);
    return bytes;
  };
  return { weights: await read(weightsPath), optimizer: await read(optimizerPath) };
}
