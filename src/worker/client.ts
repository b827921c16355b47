import type { EngineInfo } from '../gpu/open_device.js';
import { checkLearningRate, TrainingWorkerError, WorkerProtocolError, type FromWorker, type SerializedError, type ToWorker } from './protocol.js';

/** The page's side of a worker (a `Worker`, or a MessagePort in tests). */
export interface WorkerEndpoint {
  /** Sends a command; `transfer` moves buffers instead of copying them. */
  postMessage(message: unknown, transfer?: Transferable[]): void;
  /** Receives what the worker posts. */
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  /** Stops receiving (once a run is stopped). */
  removeEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
}

/** Which job to start in the worker, and with what. */
export interface StartTrainingOptions {
  /** A job name the worker registered with `serveTraining`. */
  job: string;
  /** Handed to the job's factory (structured-cloned: plain data and typed arrays). */
  config: unknown;
  /** Build the job but wait for `resume()` before the first step. */
  paused?: boolean;
  /** Buffers of `config` to move rather than copy (they become unusable on the page). */
  transfer?: Transferable[];
}

/** Callbacks for what the worker posts about one run. */
export interface TrainingRunEvents<P, E> {
  /** A progress report of the job (for `trainerJob`, a `Progress`). */
  onProgress?: (data: P) => void;
  /** An epoch's result (for `trainerJob`, an `EpochResult`). */
  onEpoch?: (data: E) => void;
  /** A job-defined notice, e.g. 'recovered' after a device loss. */
  onEvent?: (name: string, data: unknown) => void;
  /** The job stopped between steps; `reason` is set when it paused itself (e.g. a step limit). */
  onPaused?: (reason: string | undefined) => void;
}

/**
 * One training run in a worker, driven from the page. Every method posts a command and resolves
 * once the worker has acted on it; failures inside the worker reject with a TrainingWorkerError
 * that names the error's class there.
 */
export interface TrainingRun<P = unknown, E = unknown, R = unknown> extends TrainingRunEvents<P, E> {
  readonly id: number;
  /** Resolves once the job is built (and training begins, unless started paused). */
  readonly started: Promise<void>;
  /** Resolves with the job's result when training finishes; rejects if it fails. */
  readonly done: Promise<R>;
  /** Resolves once the worker has stopped between steps (at once if training already ended). */
  pause(): Promise<void>;
  /** Resolves once the worker has gone on (or started, for a run started paused). */
  resume(): Promise<void>;
  /** Resolves once the worker has taken the rate; it applies from the next step. */
  setLearningRate(lr: number): Promise<void>;
  /** The weights as safetensors bytes, with `metadata` added to the file's header. */
  checkpoint(metadata?: Record<string, string>): Promise<Uint8Array>;
  /** Replaces the weights; rejects (naming the mismatch) if the checkpoint does not fit. */
  load(bytes: Uint8Array): Promise<void>;
  /** A call the job defines (e.g. 'predict'), answered while training or paused. */
  request<T = unknown>(name: string, args?: unknown, transfer?: Transferable[]): Promise<T>;
  /** Ends the run and frees its GPU memory in the worker; later calls are refused. */
  stop(): Promise<void>;
}

let nextRun = 1;

function revive(e: SerializedError): TrainingWorkerError {
  return new TrainingWorkerError(e.name, e.message);
}

/**
 * Resolves with the worker's adapter once its engine is up; rejects with a TrainingWorkerError
 * (workerName 'WebGPUUnavailableError' when the worker has no WebGPU). Call it right after
 * creating the worker: the worker announces its engine once.
 */
export function workerReady(worker: WorkerEndpoint): Promise<EngineInfo> {
  return new Promise((resolve, reject) => {
    const listener = (event: { data: unknown }) => {
      const m = event.data as FromWorker;
      if (m?.type === 'ready') resolve(m.info);
      else if (m?.type === 'error' && m.run === undefined) reject(revive(m.error));
      else return;
      worker.removeEventListener('message', listener);
    };
    worker.addEventListener('message', listener);
  });
}

/**
 * Starts job `options.job` in a worker that runs `serveTraining`, and returns the handle that
 * pauses, resumes, changes the learning rate, checkpoints and stops it. A worker runs one job at a
 * time: starting another stops this one.
 */
export function startTraining<P = unknown, E = unknown, R = unknown>(worker: WorkerEndpoint, options: StartTrainingOptions): TrainingRun<P, E, R> {
  const id = nextRun++;
  const calls = new Map<number, { resolve: (m: FromWorker) => void; reject: (e: Error) => void }>();
  const waiters: Record<'paused' | 'resumed' | 'learningRate' | 'stopped', (() => void)[]> = { paused: [], resumed: [], learningRate: [], stopped: [] };
  let nextCall = 1;
  let ended = false;
  let stopped = false;
  let settleStarted!: [() => void, (e: Error) => void];
  let settleDone!: [(r: R) => void, (e: Error) => void];
  const started = new Promise<void>((resolve, reject) => (settleStarted = [resolve, reject]));
  const done = new Promise<R>((resolve, reject) => (settleDone = [resolve, reject]));
  // Callers that never await these still see failures through `done`; no unhandled rejections.
  started.catch(() => undefined);
  done.catch(() => undefined);

  const wake = (kind: keyof typeof waiters) => waiters[kind].splice(0).forEach((w) => w());
  const finish = () => {
    ended = true;
    wake('paused');
  };
  const listener = (event: { data: unknown }) => {
    const m = event.data as FromWorker;
    if (typeof m !== 'object' || m === null || !('run' in m) || m.run !== id) return;
    switch (m.type) {
      case 'started':
        return settleStarted[0]();
      case 'progress':
        return run.onProgress?.(m.data as P);
      case 'epoch':
        return run.onEpoch?.(m.data as E);
      case 'event':
        return run.onEvent?.(m.name, m.data);
      case 'paused':
        run.onPaused?.(m.reason);
        return wake('paused');
      case 'resumed':
      case 'learningRate':
        return wake(m.type);
      case 'checkpoint':
      case 'reply': {
        const call = calls.get(m.id);
        calls.delete(m.id);
        if (m.type === 'reply' && m.error) call?.reject(revive(m.error));
        else call?.resolve(m);
        return;
      }
      case 'error': {
        const error = revive(m.error);
        finish();
        settleStarted[1](error);
        return settleDone[1](error);
      }
      case 'done':
        finish();
        return settleDone[0](m.result as R);
      case 'stopped':
        stopped = true;
        finish();
        worker.removeEventListener('message', listener);
        for (const call of calls.values()) call.reject(new WorkerProtocolError(`training run ${id} was stopped before it answered`));
        calls.clear();
        settleStarted[1](new WorkerProtocolError(`training run ${id} was stopped before it started`));
        settleDone[1](new WorkerProtocolError(`training run ${id} was stopped before it finished`));
        return wake('stopped');
    }
  };
  worker.addEventListener('message', listener);

  const send = (m: ToWorker, transfer?: Transferable[]) => {
    if (stopped) throw new WorkerProtocolError(`training run ${id}: '${m.type}' after stop(); start a new run`);
    worker.postMessage(m, transfer ?? []);
  };
  const waitFor = (kind: keyof typeof waiters, m: ToWorker) =>
    new Promise<void>((resolve) => {
      waiters[kind].push(resolve);
      send(m);
    });
  const callWorker = (make: (callId: number) => ToWorker, transfer?: Transferable[]) =>
    new Promise<FromWorker>((resolve, reject) => {
      const callId = nextCall++;
      calls.set(callId, { resolve, reject });
      send(make(callId), transfer);
    });

  const run: TrainingRun<P, E, R> = {
    id,
    started,
    done,
    pause: async () => {
      if (ended) return;
      await waitFor('paused', { type: 'pause', run: id });
    },
    resume: () => waitFor('resumed', { type: 'resume', run: id }),
    setLearningRate: async (lr) => {
      checkLearningRate(lr);
      await waitFor('learningRate', { type: 'setLearningRate', run: id, lr });
    },
    checkpoint: async (metadata) => {
      const m = await callWorker((callId) => ({ type: 'checkpoint', run: id, id: callId, metadata }));
      return (m as Extract<FromWorker, { type: 'checkpoint' }>).bytes;
    },
    load: async (bytes) => {
      await callWorker((callId) => ({ type: 'load', run: id, id: callId, bytes }));
    },
    request: async <T>(name: string, args?: unknown, transfer?: Transferable[]) => {
      const m = await callWorker((callId) => ({ type: 'request', run: id, id: callId, name, args }), transfer);
      return (m as Extract<FromWorker, { type: 'reply' }>).value as T;
    },
    stop: () => (stopped ? Promise.resolve() : waitFor('stopped', { type: 'stop', run: id })),
  };
  send({ type: 'start', run: id, job: options.job, config: options.config, paused: options.paused }, options.transfer);
  return run;
}
