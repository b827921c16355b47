import { WebGPUDLError } from './errors.js';
import { writeFileAtomically } from '../io/atomic_write.js';
import { readFileWithin } from '../io/read_bounded.js';

/** Persists autotuning winners: key = adapter + shape class, value = candidate id. */
export interface TuneStore {
  /** The candidate id stored for `key`, if any. */
  get(key: string): string | undefined;
  /** Stores the winning candidate id for `key`. */
  set(key: string, value: string): void;
}

/** A `TuneStore` in memory, for one process (tests, or a run that should not touch the disk's cache). */
export class MemoryTuneStore implements TuneStore {
  private readonly map = new Map<string, string>();
  /** The candidate id stored for `key`, if any. */
  get(key: string): string | undefined {
    return this.map.get(key);
  }
  /** Stores the winning candidate id for `key`. */
  set(key: string, value: string): void {
    this.map.set(key, value);
  }
}

/** The autotune cache is a few kilobytes; a larger file is not ours and is ignored. */
const MAX_TUNE_CACHE_BYTES = 1 << 20;

/**
 * Node: a JSON file (WEBGPU_DL_TUNE_CACHE, else ~/.cache/webgpu-dl/autotune.json), read within
 * MAX_TUNE_CACHE_BYTES and rewritten atomically (temporary file, then rename), so a crash during a
 * write never leaves a cut-short cache.
 */
async function fileTuneStore(): Promise<TuneStore> {
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  const os = await import('node:os');
  const file = process.env.WEBGPU_DL_TUNE_CACHE ?? path.join(os.homedir(), '.cache', 'webgpu-dl', 'autotune.json');
  let entries: Record<string, string> = {};
  try {
    const bytes = await readFileWithin(file, { limit: MAX_TUNE_CACHE_BYTES, limitName: 'MAX_TUNE_CACHE_BYTES', error: WebGPUDLError, missingOk: true });
    if (bytes) entries = tuneEntries(JSON.parse(new TextDecoder().decode(bytes)));
  } catch {
    // An unreadable, oversized or malformed cache only costs re-tuning: start empty and overwrite it.
  }
  // Writes are chained so that the last one lands last.
  let writing: Promise<void> = Promise.resolve();
  return {
    get: (key) => entries[key],
    set: (key, value) => {
      entries[key] = value;
      const text = new TextEncoder().encode(JSON.stringify(entries, null, 1));
      writing = writing
        .then(() => fs.mkdir(path.dirname(file), { recursive: true }))
        .then(() => writeFileAtomically(file, text))
        .catch(() => {
          // A read-only home only costs re-tuning next time.
        });
    },
  };
}

/** The string-to-string entries of a parsed cache file; anything else is dropped. */
function tuneEntries(parsed: unknown): Record<string, string> {
  const entries: Record<string, string> = Object.create(null);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return entries;
  for (const [k, v] of Object.entries(parsed)) if (typeof v === 'string') entries[k] = v;
  return entries;
}

/** Browser: IndexedDB, read once at start and written through. */
async function indexedDbTuneStore(): Promise<TuneStore> {
  const memory = new MemoryTuneStore();
  const open = (): Promise<IDBDatabase> =>
    new Promise((resolve, reject) => {
      const request = indexedDB.open('webgpu-dl', 1);
      request.onupgradeneeded = () => request.result.createObjectStore('autotune');
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  let db: IDBDatabase | undefined;
  try {
    db = await open();
    const all = await new Promise<{ keys: IDBValidKey[]; values: string[] }>((resolve, reject) => {
      const store = db!.transaction('autotune', 'readonly').objectStore('autotune');
      const keys = store.getAllKeys();
      const values = store.getAll();
      values.onsuccess = () => resolve({ keys: keys.result, values: values.result });
      values.onerror = () => reject(values.error);
    });
    all.keys.forEach((k, i) => memory.set(String(k), all.values[i]));
  } catch {
    db = undefined; // Private mode or blocked storage: tune per session.
  }
  return {
    get: (key) => memory.get(key),
    set: (key, value) => {
      memory.set(key, value);
      db?.transaction('autotune', 'readwrite').objectStore('autotune').put(value, key);
    },
  };
}

export async function defaultTuneStore(): Promise<TuneStore> {
  if (typeof indexedDB !== 'undefined') return indexedDbTuneStore();
  if (typeof process !== 'undefined' && process.versions?.node) return fileTuneStore();
  return new MemoryTuneStore();
}
