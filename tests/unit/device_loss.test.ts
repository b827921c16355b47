import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createEngine, type Engine } from '../../src/gpu/engine.js';
import { MemoryTuneStore } from '../../src/gpu/autotune.js';
import { DeviceLostError, ShapeError, WebGPUDLError } from '../../src/gpu/errors.js';
import { activationForward } from '../../src/kernels/activation.js';
import { tensor } from '../../src/eager/tensor.js';
import type { ImageDataset } from '../../src/data/dataset.js';
import { Dropout } from '../../src/nn/dropout.js';
import { BatchNorm1d } from '../../src/nn/normalization.js';
import { Flatten, Linear, ReLU, Sequential } from '../../src/nn/layers.js';
import { Adam } from '../../src/optim/optimizers.js';
import { Trainer, type EpochResult, type FitOptions, type TrainerOptions } from '../../src/train/trainer.js';
import { RecoveryError, type RecoveryInfo } from '../../src/train/resume.js';
import { decodeSnapshot, readSnapshot } from '../../src/train/snapshot_file.js';
import { cosine } from '../../src/train/schedules.js';
import { FileWriteError } from '../../src/io/atomic_write.js';
import { LiveTrainer, type LiveRecovery } from '../../demos/lib/live_trainer.js';

const quiet = { log: () => {} };

/** 64 samples of 8×8 with labels a small MLP can partly learn (the class sets a bright row). */
function tinyDataset(): ImageDataset {
  const n = 64;
  const images = new Uint8Array(n * 64);
  const labels = new Uint8Array(n);
  for (let s = 0; s < n; s++) {
    labels[s] = s % 8;
    for (let p = 0; p < 64; p++) images[s * 64 + p] = Math.floor(p / 8) === labels[s] ? 200 + ((s * 7 + p) % 55) : (s * 31 + p * 17) % 60;
  }
  return { images, labels, count: n, height: 8, width: 8, classes: 8 };
}

/** Dropout (the step's run count), BatchNorm (non-trainable buffers), Adam (state and t). */
function trainerOptions(extra: Partial<TrainerOptions> = {}): TrainerOptions {
  return {
    model: new Sequential(new Flatten(), new Linear(64, 24), new BatchNorm1d(24), ReLU(), new Dropout(0.25), new Linear(24, 8)),
    inputShape: [1, 8, 8],
    classes: 8,
    optimizer: new Adam({ lr: 1e-2 }),
    seed: 5,
    ...extra,
  };
}

/**
 * Augmentation and a schedule, so the resumed run must also continue their draws and rate; an
 * evaluation every epoch, so evaluation steps made before the loss must be remade after it.
 */
const fitOptions: FitOptions = { epochs: 3, batchSize: 16, augment: { shift: 1 }, schedule: cosine(), evaluate: tinyDataset() };

// A test that fails part way must not leave its spies on the shared engine's tuner for the next.
afterEach(() => {
  vi.restoreAllMocks();
});

async function weights(trainer: Trainer): Promise<Float32Array[]> {
  return Promise.all(trainer.store.stateDict.map((p) => trainer.store.read(p.name)));
}

describe('Engine.recover', () => {
  it('replaces a lost device in the same engine object, which then works again', async () => {
    const e = await createEngine({ autotune: false, tuneStore: new MemoryTuneStore(), ...quiet });
    const info = e.info;
    const old = e.device;
    await expect(e.recover()).rejects.toThrow(WebGPUDLError); // nothing to recover from
    tensor(e, [1, 2, 3], [3]);
    old.destroy(); // as a driver reset would
    await old.lost;
    expect(e.lost).toBeInstanceOf(DeviceLostError);
    expect(() => tensor(e, [1], [1])).toThrow(DeviceLostError);
    await e.recover();
    expect(e.device).not.toBe(old);
    expect(e.lost).toBeUndefined();
    expect(e.recovered).toBe(1);
    expect(e.info).toEqual(info);
    expect(e.stats.liveBuffers).toBe(0); // the lost device's buffers are forgotten
    const t = tensor(e, [-1, 2, -3], [3]);
    const y = tensor(e, [0, 0, 0], [3]);
    e.dispatch(activationForward({ kind: 'relu' }, 3), [t.buffer, y.buffer]);
    expect([...(await y.read())]).toEqual([0, 2, 0]);
    t.dispose();
    y.dispose();
    expect(e.stats.liveBuffers).toBe(0);
    await e.close();
  });
});

describe('fit with autoCheckpoint survives device loss', () => {
  const tuneStore = new MemoryTuneStore();
  let engine: Engine;
  let reference: { weights: Float32Array[]; history: EpochResult[] };
  const data = tinyDataset();
  const folder = mkdtempSync(join(tmpdir(), 'webgpu-dl-device-loss-'));

  beforeAll(async () => {
    // Autotuning on: the run before and after the loss must choose the same kernels (same store).
    engine = await createEngine({ autotune: true, tuneStore, ...quiet });
    // Tuning in the background, as for users: its rounds run into the losses and recoveries below.
    engine.tuner.background = true;
    const trainer = new Trainer(engine, trainerOptions({ autoCheckpoint: { everySteps: 2 } }));
    const history = await trainer.fit(data, fitOptions);
    reference = { weights: await weights(trainer), history };
    trainer.dispose();
  });

  afterAll(async () => {
    // No tuning job bound an old device's buffers on a new one (those errors are caught by no scope).
    await engine.tuner.settled();
    expect(engine.uncapturedErrors).toBe(0);
    await engine.close();
    rmSync(folder, { recursive: true, force: true });
  });

  it('resumes from the last snapshot and ends with the uninterrupted run\'s weights, bit for bit', async () => {
    const baseline = engine.stats.liveBuffers;
    const chosen: string[][] = [[], []]; // kernel choices on the first device, and on the second
    const realChoose = engine.tuner.choose.bind(engine.tuner);
    const spy = vi.spyOn(engine.tuner, 'choose').mockImplementation(async (shapeClass, candidates, buffers) => {
      const id = await realChoose(shapeClass, candidates, buffers);
      chosen[engine.recovered].push(`${shapeClass}=${id}`);
      return id;
    });
    const file = join(folder, 'run.snapshot.safetensors');
    const trainer = new Trainer(engine, trainerOptions({ autoCheckpoint: { everySteps: 2, target: { file } } }));
    const recovered: RecoveryInfo[] = [];
    const lostDevice = engine.device;
    let destroyed = false;
    const history = await trainer.fit(data, {
      ...fitOptions,
      progressEvery: 1,
      onProgress: (p) => {
        if (p.epoch === 2 && p.step === 3 && !destroyed) {
          destroyed = true;
          engine.device.destroy(); // what a driver reset or a lost tab does to the device
        }
      },
      onRecover: (info) => recovered.push(info),
    });
    spy.mockRestore();

    expect(engine.device).not.toBe(lostDevice);
    expect(recovered).toHaveLength(1);
    const [info] = recovered;
    expect(info.reason).toBe('destroyed');
    // Snapshots every 2 steps of 4 per epoch. The device went when step 7's progress arrived, which
    // is asynchronous: the loop may have run (and snapshotted) a step or two beyond by then.
    expect(info.step % 2).toBe(0);
    expect(info.step).toBeGreaterThanOrEqual(2);
    expect(info.step).toBeLessThan(12);
    expect((info.epoch - 1) * 4 + info.stepInEpoch).toBe(info.step);
    expect(info.stepInEpoch).toBeGreaterThan(0);
    expect(history.map((h) => h.epoch)).toEqual([1, 2, 3]);
    expect(history.flatMap((h) => h.recoveries ?? [])).toEqual([info]);

    const after = await weights(trainer);
    after.forEach((w, i) => expect(w, trainer.store.stateDict[i].name).toEqual(reference.weights[i]));
    // The epoch figures match too (the snapshot carried the epoch's running sums), and so do the
    // evaluations, made with evaluation steps compiled on the lost device and remade on the new one.
    const figures = (h: EpochResult[]) => h.map((r) => [r.loss, r.trainAccuracy, r.lr, r.evalLoss, r.evalAccuracy]);
    expect(figures(history)).toEqual(figures(reference.history));

    // The same kernel configurations before and after the recovery, and nothing re-timed.
    expect(chosen[0].length).toBeGreaterThan(0);
    expect(chosen[1]).toEqual(chosen[0]);

    // The last snapshot was also written to the file: the end of training, with the final weights.
    const snapshot = decodeSnapshot((await readSnapshot({ file }))!, trainer.store, trainer.options.optimizer!);
    expect(snapshot.position).toEqual({ epoch: 3, step: 4, global: 12 });
    expect(snapshot.optimizerSteps).toBe(trainer.store.optimizerSteps);
    const p0 = trainer.store.list[0];
    expect(snapshot.parameters.subarray(p0.offset, p0.offset + p0.size)).toEqual(after[0]);

    trainer.dispose();
    expect(engine.stats.liveBuffers).toBe(baseline);
  });

  it('counts a loss while rebuilding on the new device as one more, and recovers from it too', async () => {
    const trainer = new Trainer(engine, trainerOptions({ autoCheckpoint: { everySteps: 2 } }));
    const firstRecovery = engine.recovered + 1;
    const realChoose = engine.tuner.choose.bind(engine.tuner);
    let lostAgain = false;
    // The step is rebuilt after the first recovery: lose that new device while its kernels are chosen.
    const spy = vi.spyOn(engine.tuner, 'choose').mockImplementation(async (shapeClass, candidates, buffers) => {
      if (engine.recovered === firstRecovery && !lostAgain) {
        lostAgain = true;
        engine.device.destroy();
      }
      return realChoose(shapeClass, candidates, buffers);
    });
    const recovered: RecoveryInfo[] = [];
    let destroyed = false;
    await trainer.fit(tinyDataset(), {
      ...fitOptions,
      progressEvery: 1,
      onProgress: (p) => {
        if (p.epoch === 2 && p.step === 1 && !destroyed) {
          destroyed = true;
          engine.device.destroy();
        }
      },
      onRecover: (info) => recovered.push(info),
    });
    spy.mockRestore();
    expect(lostAgain).toBe(true);
    expect(engine.recovered).toBe(firstRecovery + 1);
    expect(recovered).toHaveLength(1); // reported once, when training went on
    const after = await weights(trainer);
    after.forEach((w, i) => expect(w, trainer.store.stateDict[i].name).toEqual(reference.weights[i]));
    trainer.dispose();
  });

  it('a run stopped part way resumes from its snapshot file in a new engine, with the same kernels, to the same weights', async () => {
    const file = join(folder, 'stopped.safetensors');
    const stopped = new Trainer(engine, trainerOptions({ autoCheckpoint: { everySteps: 2, target: { file } } }));
    // dispose() stops fit before its next step: training ends part way, as a killed process's would.
    const done = await stopped.fit(tinyDataset(), {
      ...fitOptions,
      progressEvery: 1,
      onProgress: (p) => {
        if (p.epoch === 2 && p.step === 2) stopped.dispose();
      },
    });
    expect(done.map((h) => h.epoch)).toEqual([1]);
    expect(engine.stats.liveBuffers).toBe(0); // the snapshot buffers went with the rest

    // A new process: a new engine with nothing in its tune store.
    const freshStore = new MemoryTuneStore();
    const timed = vi.spyOn(freshStore, 'set');
    const fresh = await createEngine({ autotune: true, tuneStore: freshStore, ...quiet });
    const trainer = new Trainer(fresh, trainerOptions());
    const snapshot = decodeSnapshot((await readSnapshot({ file }))!, trainer.store, trainer.options.optimizer!);
    expect(snapshot.position.global).toBeGreaterThanOrEqual(4);
    expect(snapshot.position.global).toBeLessThan(12);
    expect(Object.keys(snapshot.kernels).length).toBeGreaterThan(0);
    await expect(trainer.fit(tinyDataset(), { ...fitOptions, batchSize: 32, resumeFrom: snapshot })).rejects.toThrow(/resumeFrom is at epoch \d, step \d \(step \d+ overall\), which is not a position of this fit \(3 epochs of 2 steps\)/);
    const history = await trainer.fit(tinyDataset(), { ...fitOptions, resumeFrom: snapshot });
    expect(history.at(-1)!.epoch).toBe(3);
    // The kernels the saved run used were taken from the snapshot, none timed afresh.
    expect(timed).not.toHaveBeenCalled();
    for (const [shapeClass, id] of Object.entries(fresh.tuner.choices)) expect(id).toBe(snapshot.kernels[shapeClass]);
    const after = await weights(trainer);
    after.forEach((w, i) => expect(w, trainer.store.stateDict[i].name).toEqual(reference.weights[i]));
    trainer.dispose();
    await fresh.close();
  });

  it('resumes from a snapshot at the end of an epoch with that epoch\'s figures and rate', async () => {
    const file = join(folder, 'epoch-end.safetensors');
    const stopped = new Trainer(engine, trainerOptions({ autoCheckpoint: { everySteps: 4, target: { file } } }));
    await stopped.fit(tinyDataset(), { ...fitOptions, onEpoch: () => stopped.dispose() });
    const trainer = new Trainer(engine, trainerOptions());
    const snapshot = decodeSnapshot((await readSnapshot({ file }))!, trainer.store, trainer.options.optimizer!);
    expect(snapshot.position).toEqual({ epoch: 1, step: 4, global: 4 });
    const history = await trainer.fit(tinyDataset(), { ...fitOptions, resumeFrom: snapshot });
    // Epoch 1 is reported again from the snapshot's sums, with the rate of its last step.
    const figures = (h: EpochResult[]) => h.map((r) => [r.epoch, r.loss, r.trainAccuracy, r.lr]);
    expect(figures(history)).toEqual(figures(reference.history));
    const after = await weights(trainer);
    after.forEach((w, i) => expect(w, trainer.store.stateDict[i].name).toEqual(reference.weights[i]));
    trainer.dispose();
  });

  it('fails with a FileWriteError when a snapshot cannot be written, naming the file', async () => {
    const sub = join(folder, 'gone');
    mkdirSync(sub);
    const file = join(sub, 'run.safetensors');
    const trainer = new Trainer(engine, trainerOptions({ autoCheckpoint: { everySteps: 2, target: { file } } }));
    const fit = trainer.fit(tinyDataset(), {
      ...fitOptions,
      progressEvery: 1,
      onProgress: (p) => {
        if (p.epoch === 1 && p.step === 1) rmSync(sub, { recursive: true, force: true });
      },
    });
    await expect(fit).rejects.toThrow(FileWriteError);
    await expect(fit).rejects.toThrow(file);
    trainer.dispose();
  });

  it('gives up with a RecoveryError after maxRecoveries losses in a row', async () => {
    const trainer = new Trainer(engine, trainerOptions({ autoCheckpoint: { everySteps: 2, maxRecoveries: 2 } }));
    let recoveries = 0;
    let first = true;
    const fit = trainer.fit(data, {
      ...fitOptions,
      progressEvery: 1,
      onProgress: () => {
        if (first) engine.device.destroy();
        first = false;
      },
      // Every new device is lost again before a single step completes.
      onRecover: () => {
        recoveries++;
        engine.device.destroy();
      },
    });
    await expect(fit).rejects.toThrow(RecoveryError);
    await expect(fit).rejects.toThrow(/gave up after 3 GPU device losses in a row/);
    expect(recoveries).toBe(2);
    trainer.dispose();
    await engine.device.lost;
    await engine.recover(); // for the other tests of this file
  });
});

describe('fit without autoCheckpoint', () => {
  it('fails with a DeviceLostError when the device is lost, not a hang or a DOMException', async () => {
    const engine = await createEngine({ autotune: false, tuneStore: new MemoryTuneStore(), ...quiet });
    const trainer = new Trainer(engine, trainerOptions());
    const fit = trainer.fit(tinyDataset(), {
      ...fitOptions,
      progressEvery: 1,
      onProgress: (p) => {
        if (p.epoch === 1 && p.step === 2) engine.device.destroy();
      },
    });
    await expect(fit).rejects.toThrow(DeviceLostError);
    await expect(fit).rejects.toThrow(/GPU device lost \(destroyed\).*Call engine\.recover\(\)/);
    trainer.dispose();
    expect(engine.stats.liveBuffers).toBe(0);
    await engine.close();
  });

  it('refuses bad autoCheckpoint options before any GPU work', async () => {
    const engine = await createEngine({ autotune: false, tuneStore: new MemoryTuneStore(), ...quiet });
    expect(() => new Trainer(engine, trainerOptions({ autoCheckpoint: { everySteps: 0 } }))).toThrow(ShapeError);
    expect(() => new Trainer(engine, trainerOptions({ autoCheckpoint: { everySteps: 2, maxRecoveries: 0.5 } }))).toThrow(/maxRecoveries 0.5 must be a positive integer/);
    const trainer = new Trainer(engine, trainerOptions({ autoCheckpoint: { everySteps: 2, target: { file: '/no/such/folder/run.safetensors' } } }));
    await expect(trainer.fit(tinyDataset(), fitOptions)).rejects.toThrow(/folder \/no\/such\/folder does not exist/);
    trainer.dispose();
    expect(engine.stats.liveBuffers).toBe(0);
    await engine.close();
  });
});

describe("the demos' LiveTrainer", () => {
  it('goes back to its last snapshot on a new device and reaches the uninterrupted run\'s weights', async () => {
    const engine = await createEngine({ autotune: false, tuneStore: new MemoryTuneStore(), ...quiet });
    const data = tinyDataset();
    const options = () => ({
      model: new Sequential(new Flatten(), new Linear(64, 24), ReLU(), new Dropout(0.25), new Linear(24, 10)),
      inputShape: [1, 8, 8],
      optimizer: new Adam({ lr: 1e-2 }),
      batch: 16,
      seed: 3,
      augment: { shift: 1 },
    });
    const uninterrupted = await LiveTrainer.create(engine, options(), data);
    while (uninterrupted.steps < 40) await uninterrupted.run(8);
    const expected = await weights(uninterrupted.trainer);
    uninterrupted.dispose();

    const live = await LiveTrainer.create(engine, options(), data);
    const recovered: LiveRecovery[] = [];
    live.onRecover = (r) => recovered.push(r);
    await live.run(8);
    await live.run(8); // a snapshot every 16 steps
    await live.run(4);
    engine.device.destroy();
    expect(await live.run(8)).toEqual([]); // the loss is met, and training goes back to step 16
    expect(recovered).toEqual([{ step: 16, reason: 'destroyed' }]);
    expect(live.steps).toBe(16);
    while (live.steps < 40) expect(await live.run(8)).toHaveLength(8);
    const after = await weights(live.trainer);
    after.forEach((w, i) => expect(w).toEqual(expected[i]));
    // Evaluation after the recovery runs on the new device.
    expect((await live.trainer.evaluate(data)).confusion.flat().reduce((a, b) => a + b, 0)).toBe(64);
    live.dispose();
    expect(engine.stats.liveBuffers).toBe(0);
    await engine.close();
  });
});
