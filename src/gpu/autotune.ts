import type { GpuContext } from './context.js';
import { WebGPUDLError } from './errors.js';
import { storageBindingCount, type KernelSpec } from './kernel_spec.js';
import { encodeLaunch, makeLaunch, type Launch } from './launch.js';
import { TimestampProfiler } from './profiler.js';
import { writeFileAtomically } from '../io/atomic_write.js';
import { readFileWithin } from '../io/read_bounded.js';

/** Persists autotuning winners: key = adapter + shape class, value = candidate id. */
export interface TuneStore {
  get(key: string): string | undefined;
  set(key: string, value: string): void;
}

export class MemoryTuneStore implements TuneStore {
  private readonly map = new Map<string, string>();
  get(key: string): string | undefined {
    return this.map.get(key);
  }
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

export interface TuneCandidate {
  id: string;
  /** Bound to the buffers given to `choose`, in order. */
  spec: KernelSpec;
  /**
   * Launches that belong to the candidate's cost and run right after `spec` in the same pass (a
   * split-K reduce), each binding the buffers at the given indices of those given to `choose`.
   */
  after?: readonly TuneLaunch[];
}

export interface TuneLaunch {
  spec: KernelSpec;
  buffers: readonly number[];
}

/**
 * Picks the fastest of several kernel configurations for a shape class by timing them on this
 * adapter, once; the winner is remembered per adapter. With tuning off, the first candidate (the
 * family's default) is used.
 */
export class Autotuner {
  /** Choices a resumed run must repeat, by shape class: ahead of the store and of timing. */
  private readonly adopted = new Map<string, string>();
  /** What `choose` answered on this engine, by shape class. */
  private readonly made = new Map<string, string>();

  constructor(
    private readonly engine: GpuContext,
    readonly enabled: boolean,
    private readonly store: TuneStore,
  ) {}

  /** The candidate chosen for each shape class so far on this engine, as `adopt` takes them back. */
  get choices(): Record<string, string> {
    return Object.fromEntries(this.made);
  }

  /**
   * Makes `choices` (saved with a training snapshot, say) this engine's answers for their shape
   * classes, whatever the store holds and without timing, so that a resumed run uses the kernels it
   * used before and computes the same bits. Applies while tuning is enabled (with it off, every
   * family's default is used).
   */
  adopt(choices: Readonly<Record<string, string>>): void {
    for (const [shapeClass, id] of Object.entries(choices)) this.adopted.set(shapeClass, id);
  }

  /**
   * The choice for `shapeClass` without timing anything: an adopted, already chosen or stored
   * winner, else the family's default (the first candidate). Eager ops use it: they never wait
   * for tuning.
   */
  cachedOrDefault(shapeClass: string, candidates: readonly TuneCandidate[]): string {
    if (!this.enabled || candidates.length === 1) return candidates[0].id;
    const id = this.adopted.get(shapeClass) ?? this.made.get(shapeClass) ?? this.store.get(`${this.adapterKey()}|${shapeClass}`);
    return id !== undefined && candidates.some((c) => c.id === id) ? id : candidates[0].id;
  }

  private adapterKey(): string {
    const i = this.engine.info;
    return `${i.vendor}/${i.architecture}/${i.device}/${i.description}`;
  }

  /** The id of the winning candidate for `shapeClass`, timing the candidates on `buffers` if needed. */
  async choose(shapeClass: string, candidates: TuneCandidate[], buffers: readonly GPUBuffer[]): Promise<string> {
    const id = await this.pick(shapeClass, candidates, buffers);
    this.made.set(shapeClass, id);
    return id;
  }

  private async pick(shapeClass: string, candidates: TuneCandidate[], buffers: readonly GPUBuffer[]): Promise<string> {
    if (candidates.length === 0) throw new Error(`autotune '${shapeClass}': no candidates`);
    if (!this.enabled || candidates.length === 1) return candidates[0].id;
    const adopted = this.adopted.get(shapeClass);
    if (adopted && candidates.some((c) => c.id === adopted)) return adopted;
    const key = `${this.adapterKey()}|${shapeClass}`;
    const known = this.store.get(key);
    if (known && candidates.some((c) => c.id === known)) return known;
    let best = candidates[0].id;
    let bestTime = Infinity;
    for (const candidate of candidates) {
      const launches = [{ spec: candidate.spec, buffers: Array.from({ length: storageBindingCount(candidate.spec) }, (_, i) => i) }, ...(candidate.after ?? [])];
      const time = await this.time(launches, buffers).catch(() => Infinity);
      if (time < bestTime) {
        bestTime = time;
        best = candidate.id;
      }
    }
    this.store.set(key, best);
    return best;
  }

  /**
   * Median time of a few runs of `launches` (one pass each run) in milliseconds; the first run
   * (compilation, warm-up) is dropped. GPU timestamps where the device has them, since a submit's
   * round trip can exceed a small kernel's whole cost; wall time of each submit otherwise, or when
   * the timestamps are too coarse to tell (browsers round them).
   */
  async time(launches: readonly TuneLaunch[], buffers: readonly GPUBuffer[], runs = 3): Promise<number> {
    const { device, buffers: registry } = this.engine;
    const uniforms: GPUBuffer[] = [];
    try {
      const bound: Launch[] = [];
      for (const { spec, buffers: indices } of launches) {
        bound.push(await makeLaunch(this.engine, spec, indices.map((i) => buffers[i]), uniforms));
      }
      const record = (pass: GPUComputePassEncoder) => {
        for (const launch of bound) encodeLaunch(pass, launch);
        pass.end();
      };
      if (TimestampProfiler.supported(this.engine)) {
        const gpuTime = await this.timeOnGpu(record, runs);
        if (gpuTime > 0) return gpuTime;
      }
      const once = async () => {
        const encoder = device.createCommandEncoder();
        record(encoder.beginComputePass());
        const start = performance.now();
        device.queue.submit([encoder.finish()]);
        await device.queue.onSubmittedWorkDone();
        return performance.now() - start;
      };
      await once();
      const times: number[] = [];
      for (let i = 0; i < runs; i++) times.push(await once());
      return median(times);
    } finally {
      for (const u of uniforms) registry.destroy(u);
    }
  }

  /** Median GPU time of `runs` timed passes after one untimed warm-up, all in one submit. */
  private async timeOnGpu(record: (pass: GPUComputePassEncoder) => void, runs: number): Promise<number> {
    const profiler = new TimestampProfiler(this.engine, runs);
    try {
      const encoder = this.engine.device.createCommandEncoder();
      record(encoder.beginComputePass());
      for (let i = 0; i < runs; i++) record(profiler.beginPass(encoder, 'tune'));
      profiler.resolve(encoder);
      this.engine.device.queue.submit([encoder.finish()]);
      return median((await profiler.read()).map((t) => t.ms));
    } finally {
      profiler.dispose();
    }
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
