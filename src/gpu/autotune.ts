import type { GpuContext } from './context.js';
import { KernelError } from './errors.js';
import { storageBindingCount, type KernelSpec } from './kernel_spec.js';
import { LaunchTimer, StaleTimerError, type TuneLaunch, type TuneRecord } from './tune_measure.js';
import { limitRefusal } from './tune_limits.js';
import type { TuneStore } from './tune_store.js';
import { adapterClass, tableChoice } from './tune_table.js';
import { fastest } from './tune_timing.js';
import { backgroundTuningDefault, defaultIdle, STOP_WAIT_MS } from './tune_background.js';
import { droppedKernelsLine, sortRecordedChoices, type AdoptedKernels, type RecordedConfigCheck } from './tune_adopt.js';

export { MemoryTuneStore, defaultTuneStore, type TuneStore } from './tune_store.js';
export type { CandidateTiming, TuneLaunch, TuneRecord } from './tune_measure.js';
export { BACKGROUND_DELAY_MS, STOP_WAIT_MS, backgroundTuningDefault } from './tune_background.js';
export type { AdoptedKernels, DroppedKernel, RecordedConfigCheck } from './tune_adopt.js';

/** One kernel configuration the autotuner may choose for a shape class. */
export interface TuneCandidate {
  /** The configuration id (e.g. a matmul's `reg8x8-wg8x8`), what the store and checkpoints record. */
  id: string;
  /** Bound to the buffers given to `choose`, in order. */
  spec: KernelSpec;
  /**
   * Launches that belong to the candidate's cost and run right after `spec` in the same pass (a
   * split-K reduce), each binding the buffers at the given indices of those given to `choose`.
   */
  after?: readonly TuneLaunch[];
}

/** What the background tuner will time: one shape class's candidates and its operand sizes. */
interface TuneJob {
  key: string;
  shapeClass: string;
  candidates: TuneCandidate[];
  bufferBytes: number[];
}

/** How the autotuner schedules its background work. */
export interface AutotunerOptions {
  /**
   * Resolves when the background tuner may take the device for its next job; `first` is true
   * before the first job. Default: BACKGROUND_DELAY_MS later for the first job (the first steps
   * run before any timing), then once the GPU has finished what was submitted and, in a browser,
   * the page is idle. Tests inject their own.
   */
  waitForIdle?: (first: boolean) => Promise<void>;
  /**
   * Whether compiles start background tuning (`tuneInBackground`). Default: true, unless the
   * environment variable WEBGPU_DL_BACKGROUND_TUNE is `0` (the project's test suite sets it, so
   * that only the tests about the tuner pay for timing). Shape classes are queued either way.
   */
  background?: boolean;
  /** Where `adopt` reports recorded choices it drops (the engine's log). Default: console.warn. */
  log?: (message: string) => void;
}

/**
 * Picks a kernel configuration for each shape class without ever making a compile wait: from what
 * this engine already answered, the store of measured winners, the table shipped for this adapter
 * class, or the family's default (the first candidate), in that order. A shape class the store does
 * not know is queued for timing in the background, whose winner is stored for the next engine (page
 * load, process) or, on this one, after `refresh()`. One engine answers a shape class the same way
 * until then, so every step it compiles and a run resumed on it compute the same bits.
 */
export class Autotuner {
  /** Choices a resumed run must repeat, by shape class: ahead of the store and of timing. */
  private readonly adopted = new Map<string, string>();
  /** What `choose` answered on this engine, by shape class. */
  private readonly made = new Map<string, string>();
  private readonly queue: TuneJob[] = [];
  private running: Promise<void> | undefined;
  private started = false;
  private stopped = false;
  /** The last round ended on an unusable engine (destroyed, lost, or its device replaced). */
  private halted = false;
  /** A compile asked for a round while one was running (perhaps on a device since replaced). */
  private requested = false;
  /** The round in progress was told to end at its next step (its device was replaced). */
  private interrupted = false;
  /** Ends the round's wait for idle time at once (set while it waits). */
  private wake: (() => void) | undefined;
  /** How long `stop` waits for the round in progress, in ms (default STOP_WAIT_MS); settable, for tests. */
  stopWaitMs = STOP_WAIT_MS;
  /** Waits for the background tuner's next turn (AutotunerOptions.waitForIdle); replaceable, for tests. */
  waitForIdle: (first: boolean) => Promise<void>;
  /** Whether `tuneInBackground` starts rounds (AutotunerOptions.background); settable, for tests and tools. */
  background: boolean;
  private readonly log: (message: string) => void;

  /**
   * @param engine the device and adapter to tune for (`check` throws once it is destroyed or lost)
   * @param enabled false: never time, use the table or each family's default
   * @param store where measured winners persist, keyed by adapter and shape class
   */
  constructor(
    private readonly engine: GpuContext & { check?(): void },
    readonly enabled: boolean,
    private readonly store: TuneStore,
    options: AutotunerOptions = {},
  ) {
    this.waitForIdle = options.waitForIdle ?? ((first) => defaultIdle(engine, first));
    this.background = options.background ?? backgroundTuningDefault();
    this.log = options.log ?? ((m) => console.warn(m));
  }

  /** The candidate chosen for each shape class so far on this engine, as `adopt` takes them back. */
  get choices(): Record<string, string> {
    return Object.fromEntries(this.made);
  }

  /** Shape classes waiting to be timed in the background. */
  get pending(): number {
    return this.queue.length;
  }

  /**
   * Makes `choices` (saved with a training snapshot, say) this engine's answers for their shape
   * classes, whatever the store holds and without timing, so that a resumed run uses the kernels it
   * used before and computes the same bits. Applies while tuning is enabled (with it off, every
   * family's default is used). Choices `check` refuses on this device (unknown ids, missing
   * features, workgroups over its limits) are dropped, returned, and named in one log line.
   */
  adopt(choices: Readonly<Record<string, string>>, check?: RecordedConfigCheck): AdoptedKernels {
    const sorted = sortRecordedChoices(choices, this.engine.info, check);
    for (const [shapeClass, id] of Object.entries(sorted.adopted)) this.adopted.set(shapeClass, id);
    if (sorted.dropped.length > 0) this.log(droppedKernelsLine(sorted.dropped));
    return sorted;
  }

  /**
   * Forgets this engine's answers (not adopted ones), so that compiles from now on use the winners
   * the background tuner has stored since. Steps compiled before keep their kernels.
   */
  refresh(): void {
    this.made.clear();
  }

  /**
   * The id of the candidate to use for `shapeClass`, at once (never timing). `buffers` are the
   * operands' sizes (or buffers, whose sizes are taken) on which the background tuner times the
   * candidates, on throwaway buffers of its own. Candidates this device's limits refuse are never
   * offered; a KernelError names the limits when none fits.
   */
  async choose(shapeClass: string, candidates: TuneCandidate[], buffers: readonly (GPUBuffer | number)[]): Promise<string> {
    const id = this.decide(shapeClass, candidates, buffers);
    this.made.set(shapeClass, id);
    return id;
  }

  /**
   * The choice for `shapeClass` as `choose` makes it, but synchronous, queueing nothing and not
   * remembered as this engine's answer: for eager ops, which never wait for tuning and have no
   * operand sizes to time on.
   */
  cachedOrDefault(shapeClass: string, candidates: readonly TuneCandidate[]): string {
    return this.decide(shapeClass, candidates, undefined);
  }

  private decide(shapeClass: string, candidates: readonly TuneCandidate[], buffers: readonly (GPUBuffer | number)[] | undefined): string {
    const fitting = this.fitting(shapeClass, candidates);
    const ids = fitting.map((c) => c.id);
    const table = () => tableChoice(adapterClass(this.engine.info), shapeClass, ids) ?? ids[0];
    if (!this.enabled || fitting.length === 1) return table();
    const known = this.known(shapeClass, ids);
    if (known) return known;
    const key = this.storeKey(shapeClass);
    if (buffers && !this.queue.some((j) => j.key === key)) {
      this.queue.push({ key, shapeClass, candidates: fitting, bufferBytes: buffers.map((b) => (typeof b === 'number' ? b : b.size)) });
    }
    return table();
  }

  /** An adopted choice, this engine's earlier answer, or the stored winner, if one is among `ids`. */
  private known(shapeClass: string, ids: readonly string[]): string | undefined {
    const found = [this.adopted.get(shapeClass), this.made.get(shapeClass), this.store.get(this.storeKey(shapeClass))];
    return found.find((id) => id !== undefined && ids.includes(id));
  }

  /** Winners are kept per adapter: the same shape class may favour another kernel on another GPU. */
  private storeKey(shapeClass: string): string {
    const i = this.engine.info;
    return `${i.vendor}/${i.architecture}/${i.device}/${i.description}|${shapeClass}`;
  }

  /** The candidates whose every launch this device's limits and features accept. */
  private fitting(shapeClass: string, candidates: readonly TuneCandidate[]): TuneCandidate[] {
    if (candidates.length === 0) throw new KernelError(shapeClass, 'the autotuner was given no candidates');
    const limits = this.engine.info.limits;
    const refusals = candidates.map((c) => [c.spec, ...(c.after ?? []).map((a) => a.spec)].map((s) => limitRefusal(s, limits, this.engine.info.features)).find(Boolean));
    const fitting = candidates.filter((_, i) => !refusals[i]);
    if (fitting.length === 0) {
      throw new KernelError(shapeClass, `no kernel configuration fits this device: ${refusals.join('; ')}; use smaller shapes or a device with larger limits`);
    }
    return fitting;
  }

  /**
   * Starts timing the queued shape classes in the background, one at a time at idle moments
   * (AutotunerOptions.waitForIdle), storing each winner. Does nothing with tuning or `background`
   * off, or once stopped. A round belongs to the device the engine had when it started: once that
   * device is lost, destroyed or replaced by `recover()`, the round stops, frees what it made and
   * keeps its job; the next call (a later compile) starts a round on the engine's device then.
   */
  tuneInBackground(): void {
    if (!this.enabled || !this.background || this.stopped || this.queue.length === 0) return;
    if (this.running) {
      this.requested = true;
      return;
    }
    this.halted = false;
    this.requested = false;
    this.interrupted = false;
    const first = !this.started;
    this.started = true;
    const device = this.engine.device;
    // A failing wait (an injected one, say) ends this round like an unusable engine does: tuning is
    // never worth a rejection, nor a retry loop.
    this.running = this.drain(first, device)
      .catch(() => {
        this.halted = true;
      })
      .finally(() => {
        this.running = undefined;
        // Shape classes queued while the last job ran; after a halt only if a compile asked since.
        if (this.queue.length && (!this.halted || this.requested)) this.tuneInBackground();
      });
  }

  /** Whether the round on `device` may go on: not stopped or interrupted, and the engine works on that device. */
  private usableOn(device: GPUDevice): boolean {
    return !this.stopped && !this.interrupted && this.worksOn(device);
  }

  /** Whether `device` is the engine's and it works (not destroyed, not lost). */
  private worksOn(device: GPUDevice): boolean {
    if (this.engine.device !== device) return false;
    try {
      this.engine.check?.();
      return true;
    } catch {
      return false;
    }
  }

  /** Resolves once the background tuner has nothing left to do (for tests and benchmarks). */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Whether a background round is in progress (waiting for idle time, or timing). */
  get busy(): boolean {
    return this.running !== undefined;
  }

  /**
   * Stops background tuning for good (the engine is going away): drops the queue, ends a wait for
   * idle time at once and a timing at its next step, and resolves once the round in progress has
   * ended, true, or after `stopWaitMs`, false. Until then the round may still have GPU work in
   * flight (a map, a wait for submitted work) on the device, which must outlive it.
   */
  stop(): Promise<boolean> {
    this.stopped = true;
    this.queue.length = 0;
    this.wake?.();
    return this.roundEnded();
  }

  /**
   * Ends the round in progress at its next step, keeping its jobs, and waits for it as `stop` does:
   * `Engine.recover()` does this before it opens a new device, since the round belongs to the lost
   * one. The next compile starts a round on the new device.
   */
  interrupt(): Promise<boolean> {
    if (this.running) this.interrupted = true;
    this.wake?.();
    return this.roundEnded();
  }

  /** Resolves true once no round is in progress, or false after `stopWaitMs`. */
  private roundEnded(): Promise<boolean> {
    const running = this.running;
    if (!running) return Promise.resolve(true);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), this.stopWaitMs);
    });
    return Promise.race([running.then(() => true), late]).finally(() => clearTimeout(timer));
  }

  /** `waitForIdle`, ended early by `stop` or `interrupt`. */
  private idle(first: boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.wake = resolve;
      this.waitForIdle(first).then(resolve, reject);
    }).finally(() => {
      this.wake = undefined;
    });
  }

  private async drain(first: boolean, device: GPUDevice): Promise<void> {
    while (this.queue.length && !this.stopped) {
      await this.idle(first);
      first = false;
      if (this.stopped) return;
      const job = this.queue.shift();
      if (!job) return;
      if (!this.usableOn(device)) {
        // Destroyed, lost, or replaced by recover(): the job waits for the next compile's round.
        this.queue.unshift(job);
        this.halted = true;
        return;
      }
      // Another engine on this store (a second tab, a resumed process) may have tuned it since.
      if (this.store.get(job.key)) continue;
      // Everything the job makes is the timer's, on `device`, and goes with it whatever happens.
      const timer = new LaunchTimer(this.engine, () => this.usableOn(device));
      let id: string | undefined;
      try {
        id = await this.fastestOf(job.shapeClass, job.candidates, timer.storage(job.bufferBytes), timer);
      } catch {
        // Nothing to store: the job is kept below if the device went away, else dropped.
      } finally {
        timer.dispose();
      }
      if (!this.usableOn(device)) {
        // Times taken on a device that went away mid-job rank nothing: the job is tuned next round.
        if (!this.stopped) this.queue.unshift(job);
        this.halted = true;
        return;
      }
      if (id !== undefined) this.store.set(job.key, id);
    }
  }

  /**
   * The id of the fastest candidate on `buffers` (made by `timer`, on its device), or undefined when
   * none could be timed. Stops at the first candidate after the timer's device went away.
   */
  private async fastestOf(shapeClass: string, candidates: TuneCandidate[], buffers: readonly GPUBuffer[], timer: LaunchTimer): Promise<string | undefined> {
    const times: number[] = [];
    const timings: TuneRecord['timings'] = {};
    for (const candidate of candidates) {
      if (!timer.usable) throw new StaleTimerError();
      const launches = [{ spec: candidate.spec, buffers: Array.from({ length: storageBindingCount(candidate.spec) }, (_, i) => i) }, ...(candidate.after ?? [])];
      const ms = await this.time(launches, buffers, 3, timer).catch(() => Infinity);
      times.push(ms);
      timings[candidate.id] = timer.last ?? { ms };
    }
    if (!timer.usable) throw new StaleTimerError();
    const best = fastest(times);
    if (best >= 0) this.measured.set(shapeClass, { winner: candidates[best].id, timings });
    return best < 0 ? undefined : candidates[best].id;
  }

  /** Backs `records`. */
  private readonly measured = new Map<string, TuneRecord>();

  /** What this engine timed, by shape class: the winner and each candidate's time and clock. */
  get records(): Record<string, TuneRecord> {
    return Object.fromEntries(this.measured);
  }

  /**
   * As `choose`, but a shape class that is not known yet (adopted, answered or stored) is timed now,
   * on `buffers`, and its winner stored: for benchmarks and tools that want a tuned configuration
   * before they start, at the cost of the wait `choose` avoids. With tuning off, as `choose`.
   */
  async tuneNow(shapeClass: string, candidates: TuneCandidate[], buffers: readonly GPUBuffer[]): Promise<string> {
    const fitting = this.fitting(shapeClass, candidates);
    let id = this.enabled && fitting.length > 1 ? this.known(shapeClass, fitting.map((c) => c.id)) : this.decide(shapeClass, fitting, undefined);
    if (id === undefined) {
      const device = this.engine.device;
      const timer = new LaunchTimer(this.engine, () => this.worksOn(device));
      const fastest = await this.fastestOf(shapeClass, fitting, buffers, timer)
        .catch(() => undefined)
        .finally(() => timer.dispose());
      // None could be timed (a lost device, say): the default, not remembered as a winner.
      if (fastest !== undefined) this.store.set(this.storeKey(shapeClass), fastest);
      id = fastest ?? fitting[0].id;
    }
    this.made.set(shapeClass, id);
    return id;
  }

  /**
   * Median time in milliseconds of `launches` (one pass) on `buffers`; see LaunchTimer.time.
   * `timer`: the one on whose device `buffers` are (the background tuner's own), which this call
   * does not dispose; default: a timer on the engine's device now, disposed after.
   */
  async time(launches: readonly TuneLaunch[], buffers: readonly GPUBuffer[], runs = 3, timer?: LaunchTimer): Promise<number> {
    if (timer) return timer.time(launches, buffers, runs);
    const own = new LaunchTimer(this.engine);
    try {
      return await own.time(launches, buffers, runs);
    } finally {
      own.dispose();
    }
  }
}
