import { createEngine, type Engine } from '../gpu/engine.js';
import { parseToWorker, serializeError, WorkerProtocolError, type FromWorker, type ToWorker } from './protocol.js';

/** The side of a worker that posts and receives messages: the worker's `self`, or a MessagePort. */
export interface MessageEndpoint {
  /** Sends to the page; `transfer` moves buffers instead of copying them. */
  postMessage(message: unknown, transfer?: Transferable[]): void;
  /** Receives the page's commands. */
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
}

/** What a job may do while it trains. */
export interface JobContext {
  readonly engine: Engine;
  /**
   * Call before every step: undefined while the run goes on; while it is paused, a promise that
   * settles on resume or stop. After it, check `stopping`.
   */
  gate(): Promise<void> | undefined;
  /** True once the page stopped the run (or started another): end at the next step. */
  readonly stopping: boolean;
  /** Pauses from inside the job (e.g. at a step limit); the next `gate()` waits for `resume`. */
  pause(reason: string): void;
  /** Posts a progress report (the page's `onProgress`). */
  progress(data: unknown, transfer?: Transferable[]): void;
  /** Posts an epoch's result (the page's `onEpoch`). */
  epoch(data: unknown, transfer?: Transferable[]): void;
  /** Posts a job-defined notice (the page's `onEvent`), e.g. an evaluation or a recovery. */
  event(name: string, data: unknown, transfer?: Transferable[]): void;
}

/** One training run in the worker, built by a `JobFactory` from the page's config. */
export interface TrainingJob {
  /** Trains to the end, calling `ctx.gate()` between steps; resolves with what `done` carries. */
  run(ctx: JobContext): Promise<unknown>;
  /** Takes effect from the next step (the host has checked it is finite and above 0). */
  setLearningRate(lr: number): void;
  /** The weights as safetensors bytes, with `metadata` in the header. */
  checkpoint(metadata?: Record<string, string>): Promise<Uint8Array>;
  /** Replaces the weights with a checkpoint's; throws (naming the mismatch) if it does not fit. */
  load?(bytes: Uint8Array): Promise<void> | void;
  /** Job-defined calls answered while training or paused (predictions, samples, weights). */
  requests?: Record<string, (args: unknown) => Promise<unknown> | unknown>;
  /** Called when the page stops the run: interrupt whatever `run` waits on besides `gate`. */
  stop?(): void;
  /** Frees the job's GPU memory, once `run` has ended. */
  dispose(): void;
}

/** Builds a job from the structured-cloned config of a `start` message. */
export type JobFactory = (engine: Engine, config: unknown) => Promise<TrainingJob> | TrainingJob;

/** What a worker serves: its jobs, and optionally how to make its engine. */
export interface ServeTrainingOptions {
  /** The jobs a page may start, by name. */
  jobs: Record<string, JobFactory>;
  /** Makes the worker's engine; default `createEngine()` on the worker's own `navigator.gpu`. */
  engine?: () => Promise<Engine>;
}

/** A run's pause state, its job once built, and how its training ended. */
class Run {
  paused: boolean;
  stopping = false;
  /** Set while the job waits in `gate()`. */
  private wake: (() => void) | undefined;
  private pauseReason: string | undefined;
  job!: Promise<TrainingJob>;
  training: Promise<void> = Promise.resolve();

  constructor(
    readonly id: number,
    paused: boolean,
    private readonly post: (m: FromWorker, transfer?: Transferable[]) => void,
  ) {
    this.paused = paused;
  }

  gate(): Promise<void> | undefined {
    if (this.stopping || !this.paused) return undefined;
    this.post({ type: 'paused', run: this.id, ...(this.pauseReason ? { reason: this.pauseReason } : {}) });
    this.pauseReason = undefined;
    return new Promise((resolve) => (this.wake = resolve));
  }

  pause(reason?: string): void {
    if (this.paused) {
      // Already waiting between steps (e.g. started paused): say so now, or the page's pause() would wait for ever.
      if (this.wake) this.post({ type: 'paused', run: this.id });
      return;
    }
    this.paused = true;
    this.pauseReason = reason;
  }

  resume(): void {
    this.paused = false;
    this.pauseReason = undefined;
    this.release();
    this.post({ type: 'resumed', run: this.id });
  }

  release(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/**
 * Runs inside a Web Worker: opens the worker's own engine (posting `ready` with the adapter, or an
 * `error`), then builds and drives the jobs the page starts with `startTraining`. One run at a
 * time: a new `start` stops the current run first. Every failure inside a run reaches the page as
 * an `error` message naming the error's class; none is left as an unhandled rejection.
 */
export function serveTraining(endpoint: MessageEndpoint, options: ServeTrainingOptions): { engine: Promise<Engine> } {
  const post = (m: FromWorker, transfer: Transferable[] = []) => endpoint.postMessage(m, transfer);
  const engine = (options.engine ?? (() => createEngine()))();
  engine.then(
    (e) => post({ type: 'ready', info: e.info }),
    (e) => post({ type: 'error', error: serializeError(e) }),
  );
  let current: Run | undefined;
  // Messages are handled one after another, so a `start` and the `pause` sent right after it
  // meet the run in order.
  let queue = Promise.resolve();

  endpoint.addEventListener('message', (event) => {
    queue = queue.then(() => handle(event.data)).catch((e) => post({ type: 'error', error: serializeError(e) }));
  });

  async function handle(data: unknown): Promise<void> {
    const m = parseToWorker(data);
    if (m.type === 'start') return start(m);
    const run = current?.id === m.run ? current : undefined;
    if (!run) throw new WorkerProtocolError(`training worker: '${m.type}' for run ${m.run}, which is not the current run (${current ? current.id : 'none'}); it was stopped or never started`);
    switch (m.type) {
      case 'pause':
        run.pause();
        return;
      case 'resume':
        run.resume();
        return;
      case 'stop':
        await stop(run);
        return;
      default:
        // Calls wait for the job to be built but not for one another: a long checkpoint does not hold up a pause.
        void call(run, m);
    }
  }

  async function call(run: Run, m: Exclude<ToWorker, { type: 'start' | 'pause' | 'resume' | 'stop' }>): Promise<void> {
    const id = 'id' in m ? m.id : undefined;
    try {
      const job = await run.job;
      if (m.type === 'setLearningRate') {
        job.setLearningRate(m.lr);
        post({ type: 'learningRate', run: run.id, lr: m.lr });
      } else if (m.type === 'checkpoint') {
        const bytes = await job.checkpoint(m.metadata);
        post({ type: 'checkpoint', run: run.id, id: m.id, bytes }, [bytes.buffer as ArrayBuffer]);
      } else if (m.type === 'load') {
        if (!job.load) throw new WorkerProtocolError('training worker: this job cannot load checkpoints');
        await job.load(m.bytes);
        post({ type: 'reply', run: run.id, id: m.id });
      } else {
        const handler = job.requests?.[m.name];
        if (!handler) throw new WorkerProtocolError(`training worker: the job has no request '${m.name}' (it has: ${Object.keys(job.requests ?? {}).join(', ') || 'none'})`);
        post({ type: 'reply', run: run.id, id: m.id, value: await handler(m.args) });
      }
    } catch (e) {
      if (id === undefined) post({ type: 'error', run: run.id, error: serializeError(e) });
      else post({ type: 'reply', run: run.id, id, error: serializeError(e) });
    }
  }

  async function start(m: Extract<ToWorker, { type: 'start' }>): Promise<void> {
    if (current) await stop(current);
    const run = new Run(m.run, m.paused ?? false, post);
    current = run;
    run.job = (async () => {
      const factory = Object.hasOwn(options.jobs, m.job) ? options.jobs[m.job] : undefined;
      if (!factory) throw new WorkerProtocolError(`training worker: no job '${m.job}' (this worker serves: ${Object.keys(options.jobs).join(', ')})`);
      return factory(await engine, m.config);
    })();
    // Kept from being an unhandled rejection; the training below reports the failure.
    run.job.catch(() => undefined);
    run.training = (async () => {
      try {
        const job = await run.job;
        post({ type: 'started', run: run.id });
        const ctx: JobContext = {
          engine: await engine,
          gate: () => run.gate(),
          get stopping() {
            return run.stopping;
          },
          pause: (reason) => run.pause(reason),
          progress: (data, transfer) => post({ type: 'progress', run: run.id, data }, transfer),
          epoch: (data, transfer) => post({ type: 'epoch', run: run.id, data }, transfer),
          event: (name, data, transfer) => post({ type: 'event', run: run.id, name, data }, transfer),
        };
        const result = await job.run(ctx);
        if (!run.stopping) post({ type: 'done', run: run.id, result });
      } catch (e) {
        if (!run.stopping) post({ type: 'error', run: run.id, error: serializeError(e) });
      }
    })();
  }

  async function stop(run: Run): Promise<void> {
    run.stopping = true;
    run.release();
    const job = await run.job.catch(() => undefined);
    job?.stop?.();
    await run.training;
    job?.dispose();
    if (current === run) current = undefined;
    post({ type: 'stopped', run: run.id });
  }

  return { engine };
}
