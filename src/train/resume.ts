import type { Engine } from '../gpu/engine.js';
import { DeviceLostError, WebGPUDLError } from '../gpu/errors.js';
import type { CompiledStep } from '../graph/compile.js';
import type { ParameterStore } from '../graph/params.js';
import type { Optimizer } from '../optim/optimizers.js';
import { restoreSnapshot, SnapshotRing, type AutoCheckpointOptions, type LoopPosition, type TrainingSnapshot } from './auto_checkpoint.js';
import type { MetricSums } from './metric_sums.js';
import { encodeSnapshot, SnapshotWriter, writeSnapshot } from './snapshot_file.js';

/** What `fit` reports when it recovered from a lost device. */
export interface RecoveryInfo {
  /** Steps done in this fit at the snapshot training resumed from ("resumed from step N"). */
  step: number;
  /** The epoch of that snapshot, and the steps done in it. */
  epoch: number;
  stepInEpoch: number;
  /** Why the device was lost: GPUDeviceLostInfo's reason, and the DeviceLostError's message. */
  reason: string;
  message: string;
}

/** Training stopped after repeated device losses; the last snapshot is still in `snapshot`. */
export class RecoveryError extends WebGPUDLError {
  override name = 'RecoveryError';
  constructor(
    message: string,
    readonly snapshot: TrainingSnapshot | undefined,
  ) {
    super(message);
  }
}

/** Records a snapshot at a step boundary when due; returns what to call after the step's submit. */
export type StepEndHook = (encoder: GPUCommandEncoder, at: LoopPosition, sums: MetricSums) => (() => void) | undefined;

export interface RecoveringRun {
  engine: Engine;
  store: ParameterStore;
  optimizer: Optimizer;
  /** Without it, a lost device fails the run with its DeviceLostError. */
  autoCheckpoint?: AutoCheckpointOptions;
  /** A snapshot to start from (one saved by an earlier run, e.g. read back from its target). */
  resumeFrom?: TrainingSnapshot;
  /** Names of the loop's metric sums, in order. */
  sumNames: readonly string[];
  /** The training step now in use (a new one after each recovery). */
  step(): CompiledStep<string>;
  /** Remakes every GPU object of the run on the recovered device, the store's buffers and the step among them. */
  rebuild(): Promise<void>;
  /** Runs the loop, from `from` (undefined: the beginning), calling `onStepEnd` after every step. */
  attempt(from: TrainingSnapshot | undefined, onStepEnd: StepEndHook | undefined): Promise<void>;
  onRecover?(info: RecoveryInfo): void;
}

/**
 * Runs a training loop that survives device loss. Every `everySteps` steps a snapshot is taken
 * (see `SnapshotRing`; one more before the first step). When the loop fails and the device turns
 * out to be lost, the engine opens a new device, the run rebuilds its GPU objects, the last
 * complete snapshot is loaded, and the loop starts again from its position: the same shuffle,
 * augmentation draws, dropout streams and schedule, so the result equals an uninterrupted run's.
 * After `maxRecoveries` losses with no new snapshot between them it gives up with a RecoveryError.
 */
export async function runWithRecovery(r: RecoveringRun): Promise<void> {
  const auto = r.autoCheckpoint;
  let from = r.resumeFrom;
  if (from) restoreSnapshot(from, r.store, r.optimizer, r.step());
  if (!auto) {
    try {
      return await r.attempt(from, undefined);
    } catch (e) {
      throw (await deviceLossOf(r.engine, e)) ?? e;
    }
  }
  const target = auto.target;
  const persist = auto.onSnapshot ?? (target && ((s: TrainingSnapshot) => writeSnapshot(target, encodeSnapshot(s, r.store))));
  const writer = persist && new SnapshotWriter(persist);
  let latest = from;
  let lossesInARow = 0;
  const keep = (s: TrainingSnapshot) => {
    latest = s;
    lossesInARow = 0;
    writer?.offer(s);
  };
  let lost: DeviceLostError | undefined;
  for (;;) {
    // Opening a device is outside the try: if no adapter is left, that error is the one to report.
    if (lost) await r.engine.recover();
    let ring: SnapshotRing | undefined;
    const arriving = new Set<Promise<void>>();
    const track = (p: Promise<void>) => {
      // A copy that never arrives (the device went first) only means that snapshot is missing.
      const settled = p.catch(() => {});
      arriving.add(settled);
      void settled.then(() => arriving.delete(settled));
    };
    try {
      if (lost) {
        // A loss while rebuilding counts as one more in a row, like a loss during the steps.
        await r.rebuild();
        restoreSnapshot(latest!, r.store, r.optimizer, r.step());
        from = latest;
        const { global, epoch, step } = latest!.position;
        r.onRecover?.({ step: global, epoch, stepInEpoch: step, reason: lost.reason, message: lost.message });
        lost = undefined;
      }
      const snapshots = new SnapshotRing(r.engine, r.store, r.optimizer, r.sumNames, keep);
      ring = snapshots;
      if (!latest) {
        const encoder = r.engine.device.createCommandEncoder({ label: 'first snapshot' });
        const collect = snapshots.capture(encoder, { epoch: 1, step: 0, global: 0 }, r.step(), undefined)!;
        r.engine.device.queue.submit([encoder.finish()]);
        track(collect());
      }
      const onStepEnd: StepEndHook = (encoder, at, sums) => {
        writer?.rethrow();
        if (at.global % auto.everySteps !== 0) return undefined;
        const collect = snapshots.capture(encoder, at, r.step(), sums);
        return collect && (() => track(collect()));
      };
      await r.attempt(from, onStepEnd);
      await Promise.all(arriving);
      await writer?.settle();
      writer?.rethrow();
      return;
    } catch (e) {
      await Promise.all(arriving);
      lost = await deviceLossOf(r.engine, e);
      if (!lost) throw e;
      if (!latest) throw lost;
      if (++lossesInARow > (auto.maxRecoveries ?? 3)) {
        throw new RecoveryError(
          `training gave up after ${lossesInARow} GPU device losses in a row with no step completed between them ` +
            `(last: ${lost.reason}); the last snapshot is at step ${latest.position.global} ` +
            `(epoch ${latest.position.epoch}, step ${latest.position.step})${persist ? ', also saved to the autoCheckpoint target' : ''}`,
          latest,
        );
      }
    } finally {
      ring?.dispose();
    }
  }
}

/**
 * The DeviceLostError behind `error` when the engine's device was lost, else undefined. A loss
 * often surfaces first as a DOMException (a mapping aborted) before the device's `lost` promise
 * settles, so for those a wait for it decides; errors of the engine's own never wait. The wait is
 * generous because in a browser the two news travel separately from the GPU process, and on a
 * loaded machine seconds can pass between them; it only delays an error that is reported anyway.
 */
export async function deviceLossOf(engine: Engine, error: unknown, waitMs = 10_000): Promise<DeviceLostError | undefined> {
  if (!engine.lost && typeof DOMException !== 'undefined' && error instanceof DOMException) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)));
    await Promise.race([engine.device.lost, timeout]);
    clearTimeout(timer);
  }
  return engine.lost ?? (error instanceof DeviceLostError ? error : undefined);
}
