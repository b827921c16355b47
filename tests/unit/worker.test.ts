import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import type { ImageDataset } from '../../src/data/dataset.js';
import { tensorDataset } from '../../src/data/tensor_dataset.js';
import { mlpDiscriminator, mlpGenerator } from '../../src/models/gan.js';
import { Linear, ReLU, Sequential } from '../../src/nn/layers.js';
import { Adam, SGD } from '../../src/optim/optimizers.js';
import { decodeSafetensors } from '../../src/train/safetensors.js';
import type { EpochResult, Progress } from '../../src/train/trainer_options.js';
import { startTraining, workerReady, type TrainingRun, type WorkerEndpoint } from '../../src/worker/client.js';
import { ganJob, type GanJobProgress } from '../../src/worker/gan_job.js';
import { serveTraining } from '../../src/worker/host.js';
import { parseToWorker, TrainingWorkerError, WorkerProtocolError } from '../../src/worker/protocol.js';
import { trainerJob, type TrainerJobConfig } from '../../src/worker/trainer_job.js';
import { useEngine } from '../helpers/engine.js';
import { rng } from '../helpers/random.js';

const engine = useEngine();

/** `count` random 8×8 images with labels 0–3. */
function tiny(count: number, seed = 3): ImageDataset {
  const next = rng(seed);
  const images = Uint8Array.from({ length: count * 64 }, () => Math.floor(next() * 256));
  const labels = Uint8Array.from({ length: count }, () => Math.floor(next() * 4));
  return { images, labels, count, height: 8, width: 8, classes: 4 };
}

const open: MessagePort[] = [];
afterEach(() => {
  for (const p of open.splice(0)) p.close();
});

/**
 * A worker and its page in one Node process: the host on one end of a MessageChannel (so every
 * message is structured-cloned, as between a page and a worker), the client on the other, and the
 * test's engine standing in for the worker's own.
 */
function connect(): WorkerEndpoint & { raw: MessagePort } {
  const { port1: inWorker, port2: onPage } = new MessageChannel();
  open.push(inWorker, onPage);
  serveTraining(inWorker as never, {
    engine: async () => engine(),
    jobs: {
      classifier: trainerJob((config) => ({
        model: new Sequential(new Linear(64, 8), ReLU(), new Linear(8, 4)),
        inputShape: [64],
        classes: 4,
        optimizer: (config.model as { sgd?: boolean })?.sgd ? new SGD({ lr: 0.05 }) : new Adam({ lr: 1e-2 }),
        seed: 1,
      })),
      resilient: trainerJob(() => ({ model: new Sequential(new Linear(64, 8), ReLU(), new Linear(8, 4)), inputShape: [64], classes: 4, optimizer: new Adam({ lr: 1e-2 }), seed: 3, autoCheckpoint: { everySteps: 4 } })),
      regression: trainerJob(() => ({ model: new Sequential(new Linear(3, 8), ReLU(), new Linear(8, 1)), inputShape: [3], optimizer: new Adam({ lr: 1e-2 }), seed: 4 })),
      gan: ganJob(() => ({ generator: mlpGenerator(8, [16], 64), discriminator: mlpDiscriminator(64, [16]), latent: 8, pixels: 64, optimizerG: new Adam({ lr: 2e-4, beta1: 0.5 }), optimizerD: new Adam({ lr: 2e-4, beta1: 0.5 }), seed: 2 })),
    },
  });
  inWorker.start();
  onPage.start();
  return Object.assign(onPage as unknown as WorkerEndpoint, { raw: onPage });
}

const weights = (bytes: Uint8Array) => Array.from(decodeSafetensors(bytes).tensors.values()).map((t) => Array.from(t.data as Float32Array));
const stepOf = (bytes: Uint8Array) => Number(decodeSafetensors(bytes).metadata.step);
/** The reason of the run's next pause; rejects if the run ends or fails first (no hanging test). */
const nextPause = <P>(run: TrainingRun<P>) =>
  Promise.race([
    new Promise<string | undefined>((resolve) => (run.onPaused = resolve)),
    run.done.then(() => Promise.reject(new Error('the run finished instead of pausing'))),
  ]);
const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('training worker protocol', () => {
  it('announces the engine, trains, reports progress and epochs, and round-trips a checkpoint', async () => {
    const worker = connect();
    const info = await workerReady(worker);
    expect(info.vendor).toBe(engine().info.vendor);
    const data = tiny(128);
    const run = startTraining<Progress, EpochResult, EpochResult[]>(worker, { job: 'classifier', config: { train: data, epochs: 2, batchSize: 16, progressEvery: 2 } satisfies TrainerJobConfig });
    const progress: Progress[] = [];
    const epochs: EpochResult[] = [];
    run.onProgress = (p) => progress.push(p);
    run.onEpoch = (e) => epochs.push(e);
    const history = await run.done;
    expect(history.map((h) => h.epoch)).toEqual([1, 2]);
    expect(epochs.map((e) => e.epoch)).toEqual([1, 2]);
    expect(progress.length).toBeGreaterThanOrEqual(6);
    expect(progress.every((p) => Number.isFinite(p.loss))).toBe(true);

    // A finished job still answers: its weights, loaded into a fresh run, predict the same.
    const bytes = await run.checkpoint({ model: 'tiny' });
    expect(decodeSafetensors(bytes).metadata.model).toBe('tiny');
    expect(stepOf(bytes)).toBe(16);
    const probe = { images: data.images.subarray(0, 3 * 64), count: 3 };
    const trained = await run.request<Float32Array>('predict', probe);
    await run.stop();
    const fresh = startTraining(worker, { job: 'classifier', config: { train: data, epochs: 1, batchSize: 16 }, paused: true });
    await fresh.started;
    expect(Array.from(await fresh.request<Float32Array>('predict', probe))).not.toEqual(Array.from(trained));
    await fresh.load(bytes);
    expect(Array.from(await fresh.request<Float32Array>('predict', probe))).toEqual(Array.from(trained));
    expect(weights(await fresh.checkpoint())).toEqual(weights(bytes));
    // A checkpoint of another shape is refused with the trainer's own error, by class.
    const other = startTraining(worker, { job: 'gan', config: { images: data, batchSize: 8, chunk: 1, iterations: 1 } });
    const ganBytes = await other.checkpoint();
    await other.stop();
    const again = startTraining(worker, { job: 'classifier', config: { train: data, epochs: 1, batchSize: 16 }, paused: true });
    await expect(again.load(ganBytes)).rejects.toThrow(TrainingWorkerError);
    await expect(again.load(ganBytes)).rejects.toMatchObject({ workerName: 'CheckpointError' });
    await again.stop();
  });

  it('trains on a tensorDataset (regression) sent from the page', async () => {
    const worker = connect();
    const next = rng(9);
    const x = Float32Array.from({ length: 96 * 3 }, () => next() * 2 - 1);
    // y = x0 − 2·x1 + 0.5·x2: learnable by the small MLP.
    const y = Float32Array.from({ length: 96 }, (_, i) => x[i * 3] - 2 * x[i * 3 + 1] + 0.5 * x[i * 3 + 2]);
    const data = tensorDataset(x, y, { featureShape: [3], task: 'regression' });
    const run = startTraining<Progress, EpochResult, EpochResult[]>(worker, { job: 'regression', config: { train: data, epochs: 8, batchSize: 16 } satisfies TrainerJobConfig });
    const history = await run.done;
    expect(history).toHaveLength(8);
    expect(history[7].loss).toBeLessThan(history[0].loss * 0.5);
    await run.stop();
  });

  it('pauses between steps, takes a new learning rate while paused, and resumes', async () => {
    const worker = connect();
    const data = tiny(128, 5);
    const run = startTraining<Progress>(worker, { job: 'classifier', config: { train: data, epochs: 3, batchSize: 16, progressEvery: 1, model: { sgd: true } } });
    let reports = 0;
    const paused: (string | undefined)[] = [];
    run.onPaused = (reason) => paused.push(reason);
    await new Promise<void>((resolve) => {
      run.onProgress = () => {
        if (++reports === 3) resolve();
      };
    });
    await run.pause();
    expect(paused).toEqual([undefined]);
    // Paused means no step runs: the optimizer's update count and the weights stand still.
    const first = await run.checkpoint();
    await tick(200);
    const second = await run.checkpoint();
    expect(stepOf(second)).toBe(stepOf(first));
    expect(stepOf(first)).toBeGreaterThanOrEqual(3);
    expect(stepOf(first)).toBeLessThan(24);
    expect(weights(second)).toEqual(weights(first));
    const reportsWhilePaused = reports;
    await tick(100);
    expect(reports).toBe(reportsWhilePaused);

    // Pausing a paused run answers at once (a page may send pause twice, or before its resume).
    await Promise.race([run.pause(), tick(2000).then(() => Promise.reject(new Error('a second pause() was never answered')))]);

    // A rate of (almost) zero from here on: SGD's updates vanish, so the weights end where they paused.
    await run.setLearningRate(1e-30);
    await run.resume();
    await run.done;
    const end = await run.checkpoint();
    expect(stepOf(end)).toBe(24);
    expect(weights(end)).toEqual(weights(first));

    // The same run without the change moves its weights (the check above is not vacuous).
    const control = startTraining(worker, { job: 'classifier', config: { train: data, epochs: 1, batchSize: 16, model: { sgd: true } }, paused: true });
    await control.started;
    const before = await control.checkpoint();
    await control.resume();
    await control.done;
    expect(weights(await control.checkpoint())).not.toEqual(weights(before));
    await control.stop();
  });

  it('stops a run part way and frees its GPU memory; later calls on it are refused', async () => {
    const worker = connect();
    await workerReady(worker);
    const baseline = engine().stats.liveBuffers;
    const run = startTraining<Progress>(worker, { job: 'classifier', config: { train: tiny(256), epochs: 50, batchSize: 8, progressEvery: 1 } });
    await new Promise<void>((resolve) => (run.onProgress = () => resolve()));
    await run.stop();
    expect(engine().stats.liveBuffers).toBe(baseline);
    await expect(run.done).rejects.toThrow(/stopped before it finished/);
    await expect(run.checkpoint()).rejects.toThrow(WorkerProtocolError);
    await run.stop(); // harmless
  });

  it('reports failures by class: an unknown job, a bad fit option, a bad rate, an unknown request', async () => {
    const worker = connect();
    const unknown = startTraining(worker, { job: 'nope', config: {} });
    await expect(unknown.done).rejects.toMatchObject({ name: 'TrainingWorkerError', workerName: 'WorkerProtocolError', message: expect.stringMatching(/no job 'nope'.*classifier, resilient, regression, gan/) });
    const tooBig = startTraining(worker, { job: 'classifier', config: { train: tiny(32), epochs: 1, batchSize: 64 } });
    await expect(tooBig.done).rejects.toMatchObject({ workerName: 'ShapeError', message: expect.stringMatching(/batch size 64/) });
    const run = startTraining(worker, { job: 'classifier', config: { train: tiny(64), epochs: 1, batchSize: 16 }, paused: true });
    await expect(run.setLearningRate(-1)).rejects.toThrow(WorkerProtocolError);
    await expect(run.setLearningRate(Number.NaN)).rejects.toThrow(/learning rate NaN must be a finite number above 0/);
    await expect(run.request('weights')).rejects.toMatchObject({ workerName: 'WorkerProtocolError', message: expect.stringMatching(/no request 'weights'.*predict, evaluate/) });
    await run.stop();
  });

  it('answers a malformed message with an error naming the field', async () => {
    const worker = connect();
    await workerReady(worker);
    const errors: string[] = [];
    worker.raw.on('message', (m: { type: string; error?: { name: string; message: string } }) => {
      if (m.type === 'error') errors.push(`${m.error!.name}: ${m.error!.message}`);
    });
    worker.postMessage({ type: 'pause' });
    worker.postMessage({ type: 'start', run: 1 });
    worker.postMessage('hello');
    await tick(100);
    expect(errors).toEqual([
      expect.stringMatching(/^WorkerProtocolError: .*'pause' message without an integer 'run'/),
      expect.stringMatching(/^WorkerProtocolError: .*'start' message without a job name/),
      expect.stringMatching(/^WorkerProtocolError: .*got a string message/),
    ]);
    expect(() => parseToWorker({ type: 'load', run: 1, id: 2, bytes: [1, 2] })).toThrow(/'bytes' is not a Uint8Array/);
    expect(() => parseToWorker({ type: 'explode', run: 1 })).toThrow(/unknown message type "explode"/);
  });

  it('trains a GAN in chunks with samples in every report, pausing at its limit until it is raised', async () => {
    const worker = connect();
    const latents = Float32Array.from({ length: 3 * 8 }, (_, i) => Math.sin(i));
    const run = startTraining<GanJobProgress>(worker, { job: 'gan', config: { images: tiny(64), batchSize: 8, chunk: 2, iterations: 4, atLimit: 'pause', samples: latents } });
    const reports: GanJobProgress[] = [];
    run.onProgress = (p) => reports.push(p);
    const limit = await nextPause(run);
    expect(limit).toBe('stopped after 4 iterations');
    expect(reports.map((r) => r.iteration)).toEqual([2, 4]);
    for (const r of reports) {
      expect(Number.isFinite(r.dLoss) && Number.isFinite(r.gLoss)).toBe(true);
      expect(r.samples).toBeInstanceOf(Float32Array);
      expect(r.samples!.length).toBe(3 * 64);
    }
    expect(await run.request('setIterations', 6)).toBe(4);
    await run.resume();
    expect(await nextPause(run)).toBe('stopped after 6 iterations');
    expect(reports.map((r) => r.iteration)).toEqual([2, 4, 6]);
    const sample = await run.request<Float32Array>('sample', { latents, count: 3 });
    expect(Array.from(sample)).toEqual(Array.from(reports[2].samples!));
    await run.stop();
  });

  // Last in the file: it destroys the shared engine's device (the engine recovers in place).
  it('goes on after the worker loses its GPU device, and tells the page where it resumed', async () => {
    const worker = connect();
    const run = startTraining<Progress, EpochResult, EpochResult[]>(worker, { job: 'resilient', config: { train: tiny(128, 7), epochs: 6, batchSize: 16, progressEvery: 1 } satisfies TrainerJobConfig });
    const events: { name: string; data: unknown }[] = [];
    run.onEvent = (name, data) => events.push({ name, data });
    let lost = false;
    run.onProgress = (p) => {
      if (!lost && (p.epoch - 1) * p.steps + p.step >= 6 && p.epoch < 4) {
        lost = true;
        engine().device.destroy(); // what a driver reset does, here to the worker's device
      }
    };
    const history = await run.done;
    expect(lost).toBe(true);
    expect(history.map((h) => h.epoch)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(events).toHaveLength(1);
    expect(events[0].name).toBe('recovered');
    const info = events[0].data as { step: number; reason: string };
    expect(info.step % 4).toBe(0);
    expect(info.step).toBeGreaterThanOrEqual(4);
    expect(engine().recovered).toBe(1);
    await run.stop();
  });
});
