import { WebGPUDLError } from '../gpu/errors.js';
import type { EngineInfo } from '../gpu/open_device.js';

/*
 * The messages between a page and a training worker. Every message of a run carries the run's
 * number, so a page that starts a new run on the same worker (a Reset) never mistakes a late
 * message of the old one for the new one's. Payloads the job defines (its config, progress, replies)
 * must survive structured cloning: plain objects, arrays, typed arrays.
 */

/** Page → worker. */
export type ToWorker =
  /** Builds job `job` (registered in the worker) from `config`; with `paused`, it waits for `resume` before the first step. */
  | { type: 'start'; run: number; job: string; config: unknown; paused?: boolean }
  /** Stops before the next step; `paused` answers once the job has stopped there. */
  | { type: 'pause'; run: number }
  | { type: 'resume'; run: number }
  /** The rate from the next step on; `learningRate` answers. */
  | { type: 'setLearningRate'; run: number; lr: number }
  /** The weights as safetensors bytes (with `metadata` added); `checkpoint` answers with the same id. */
  | { type: 'checkpoint'; run: number; id: number; metadata?: Record<string, string> }
  /** Replaces the weights with a checkpoint's; `reply` answers (an error names the mismatch). */
  | { type: 'load'; run: number; id: number; bytes: Uint8Array }
  /** A job-defined call (a prediction, generated samples); `reply` answers with its result. */
  | { type: 'request'; run: number; id: number; name: string; args: unknown }
  /** Ends the run before its next step and frees its GPU memory; `stopped` answers. */
  | { type: 'stop'; run: number };

/** An error as it crosses the worker boundary: its class name survives, the object does not. */
export interface SerializedError {
  name: string;
  message: string;
}

/** Worker → page. */
export type FromWorker =
  /** The worker's engine is up (sent once, before any run). */
  | { type: 'ready'; info: EngineInfo }
  /** The job is built; training starts now, or on `resume` if started paused. */
  | { type: 'started'; run: number }
  | { type: 'progress'; run: number; data: unknown }
  | { type: 'epoch'; run: number; data: unknown }
  /** A job-defined notice (an evaluation, a recovery from device loss). */
  | { type: 'event'; run: number; name: string; data: unknown }
  /** The job stopped between steps: at the page's request, or its own (`reason`, e.g. a step limit). */
  | { type: 'paused'; run: number; reason?: string }
  | { type: 'resumed'; run: number }
  | { type: 'learningRate'; run: number; lr: number }
  | { type: 'checkpoint'; run: number; id: number; bytes: Uint8Array }
  | { type: 'reply'; run: number; id: number; value?: unknown; error?: SerializedError }
  /** The run failed (or, without a run, the worker's engine could not start). */
  | { type: 'error'; run?: number; error: SerializedError }
  /** Training finished; the job still answers checkpoints and requests until it is stopped. */
  | { type: 'done'; run: number; result: unknown }
  /** The run is over and its GPU memory freed. */
  | { type: 'stopped'; run: number };

/** A malformed message, an unknown job or request, or a call on a run that has ended. */
export class WorkerProtocolError extends WebGPUDLError {
  override name = 'WorkerProtocolError';
}

/**
 * An error raised inside the worker, rebuilt on the page. `workerName` is the class it had there
 * (e.g. 'ShapeError', 'WebGPUUnavailableError'); the message is the original one.
 */
export class TrainingWorkerError extends WebGPUDLError {
  override name = 'TrainingWorkerError';
  constructor(
    readonly workerName: string,
    /** The message as the worker's error had it (without the class name). */
    readonly workerMessage: string,
  ) {
    super(`${workerName}: ${workerMessage}`);
  }
}

/** An error as a plain object that survives structured cloning (class name and message). */
export function serializeError(e: unknown): SerializedError {
  if (e instanceof Error) return { name: e.name, message: e.message };
  return { name: 'Error', message: String(e) };
}

const RUN_MESSAGES = new Set(['start', 'pause', 'resume', 'setLearningRate', 'checkpoint', 'load', 'request', 'stop']);

/**
 * Checks a message the worker received; throws a WorkerProtocolError naming the field otherwise.
 * The page's client only sends well-formed ones: this guards against other senders.
 */
export function parseToWorker(data: unknown): ToWorker {
  const fail = (what: string): never => {
    throw new WorkerProtocolError(`training worker: ${what}; messages come from startTraining (webgpu-dl/worker)`);
  };
  if (typeof data !== 'object' || data === null) return fail(`got a ${data === null ? 'null' : typeof data} message, expected an object with a 'type'`);
  const m = data as Record<string, unknown>;
  if (typeof m.type !== 'string' || !RUN_MESSAGES.has(m.type)) return fail(`unknown message type ${JSON.stringify(m.type)} (known: ${[...RUN_MESSAGES].join(', ')})`);
  if (!Number.isInteger(m.run)) return fail(`'${m.type}' message without an integer 'run' (got ${JSON.stringify(m.run)})`);
  const needId = m.type === 'checkpoint' || m.type === 'load' || m.type === 'request';
  if (needId && !Number.isInteger(m.id)) return fail(`'${m.type}' message without an integer 'id'`);
  if (m.type === 'start' && (typeof m.job !== 'string' || !m.job)) return fail(`'start' message without a job name`);
  if (m.type === 'setLearningRate') checkLearningRate(m.lr);
  if (m.type === 'load' && !(m.bytes instanceof Uint8Array)) return fail(`'load' message whose 'bytes' is not a Uint8Array`);
  if (m.type === 'request' && (typeof m.name !== 'string' || !m.name)) return fail(`'request' message without a name`);
  return m as ToWorker;
}

/** Throws a WorkerProtocolError unless `lr` is a finite rate above zero. */
export function checkLearningRate(lr: unknown): asserts lr is number {
  if (typeof lr !== 'number' || !Number.isFinite(lr) || lr <= 0) {
    throw new WorkerProtocolError(`setLearningRate: learning rate ${String(lr)} must be a finite number above 0`);
  }
}
