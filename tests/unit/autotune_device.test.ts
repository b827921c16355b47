import { afterEach, describe, expect, it, vi } from 'vitest';
import { Autotuner, backgroundTuningDefault, MemoryTuneStore } from '../../src/gpu/autotune.js';
import { createEngine, type Engine } from '../../src/gpu/engine.js';
import { LaunchTimer } from '../../src/gpu/tune_measure.js';
import { activationForward } from '../../src/kernels/activation.js';

// The background tuner's round belongs to the device it started on: these tests lose, destroy or
// replace that device while a round is waiting or timing, and check what the round leaves behind.

const N = 4096;
const candidates = [
  { id: 'relu', spec: activationForward({ kind: 'relu' }, N) },
  { id: 'tanh', spec: activationForward({ kind: 'tanh' }, N) },
];

/** An engine whose background rounds start at once when asked (the suite turns them off by default). */
async function tuningEngine(store: MemoryTuneStore): Promise<Engine> {
  const engine = await createEngine({ autotune: true, tuneStore: store, log: () => {} });
  engine.tuner.background = true;
  engine.tuner.waitForIdle = async () => {};
  // recover() waits for the round on the lost device to end; these tests call it from inside that
  // round (in its timing), where only the bound on that wait ends it.
  engine.tuner.stopWaitMs = 100;
  return engine;
}

/** Replaces the engine's device as a driver reset and `recover()` would. */
async function replaceDevice(engine: Engine): Promise<GPUDevice> {
  const old = engine.device;
  old.destroy();
  await old.lost;
  await engine.recover();
  return old;
}

/** Buffers still alive in the registries of the timers the background tuner made. */
function timerBuffers(storage: { mock: { contexts: unknown[] } }): number {
  return storage.mock.contexts.reduce<number>((n, timer) => n + (timer as { registry: { liveBuffers: number } }).registry.liveBuffers, 0);
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('a background round whose device goes away', () => {
  it('stops when recover() replaces the device mid-job: frees its buffers, never binds them on the new device, stores nothing, and resumes on a later compile', async () => {
    const store = new MemoryTuneStore();
    const engine = await tuningEngine(store);
    try {
      const storage = vi.spyOn(LaunchTimer.prototype, 'storage');
      const realTime = Autotuner.prototype.time;
      let replaced: GPUDevice | undefined;
      const time = vi.spyOn(Autotuner.prototype, 'time').mockImplementation(async function (this: Autotuner, ...args) {
        replaced ??= await replaceDevice(engine); // during the first candidate's timing
        return realTime.apply(this, args);
      });
      expect(await engine.tuner.choose('relu-or-tanh', candidates, [4 * N, 4 * N])).toBe('relu');
      engine.tuner.tuneInBackground();
      await engine.tuner.settled();
      await engine.device.queue.onSubmittedWorkDone();

      expect(replaced).toBeDefined();
      expect(time).toHaveBeenCalledTimes(1); // the second candidate was never timed
      expect(store['map'].size).toBe(0); // a time taken across the loss ranks nothing
      expect(engine.tuner.pending).toBe(1); // the job waits for the next round
      expect(engine.uncapturedErrors).toBe(0); // no old buffer was bound on the new device
      expect(engine.stats.liveBuffers).toBe(0);
      expect(engine.stats.pipelines).toBe(0); // nor compiled into the new device's cache
      expect(timerBuffers(storage)).toBe(0);

      // No round starts by itself on the new device...
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(time).toHaveBeenCalledTimes(1);
      // ...until a compile asks for one: it times both candidates there and stores the winner.
      engine.tuner.tuneInBackground();
      await engine.tuner.settled();
      expect(time).toHaveBeenCalledTimes(3);
      expect(storage.mock.contexts.at(-1)).toHaveProperty('device', engine.device);
      expect(['relu', 'tanh']).toContain([...store['map'].values()][0]);
      expect(engine.tuner.pending).toBe(0);
      expect(engine.uncapturedErrors).toBe(0);
      expect(engine.stats.liveBuffers).toBe(0);
      expect(timerBuffers(storage)).toBe(0);
    } finally {
      await engine.close();
    }
  });

  it('does not time on a device that replaced its own while it waited for idle time', async () => {
    const store = new MemoryTuneStore();
    const engine = await tuningEngine(store);
    try {
      const time = vi.spyOn(Autotuner.prototype, 'time');
      let waits = 0;
      engine.tuner.waitForIdle = async () => {
        if (waits++ === 0) await replaceDevice(engine);
      };
      await engine.tuner.choose('relu-or-tanh', candidates, [4 * N, 4 * N]);
      engine.tuner.tuneInBackground();
      await engine.tuner.settled();
      expect(time).not.toHaveBeenCalled();
      expect(engine.tuner.pending).toBe(1);
      expect(waits).toBe(1); // no retry loop either
    } finally {
      await engine.close();
    }
  });

  it('hands over to the round a compile asked for on the new device while the old round waited', async () => {
    const store = new MemoryTuneStore();
    const engine = await tuningEngine(store);
    try {
      const storage = vi.spyOn(LaunchTimer.prototype, 'storage');
      let waits = 0;
      let compiled: Promise<void> | undefined;
      engine.tuner.waitForIdle = async () => {
        if (waits++ > 0) return;
        compiled = replaceDevice(engine).then(() => engine.tuner.tuneInBackground()); // as the step rebuilt on the new device does
        await compiled;
      };
      await engine.tuner.choose('relu-or-tanh', candidates, [4 * N, 4 * N]);
      engine.tuner.tuneInBackground();
      // recover() ends the old round at once (it waits for it before opening the new device), so the
      // compile's round may start after the old one has settled.
      await engine.tuner.settled();
      await compiled;
      await engine.tuner.settled();
      expect(engine.tuner.pending).toBe(0);
      expect(store['map'].size).toBe(1);
      expect(storage.mock.contexts.map((t) => (t as LaunchTimer).device)).toEqual([engine.device]);
      expect(engine.uncapturedErrors).toBe(0);
      expect(timerBuffers(storage)).toBe(0);
    } finally {
      await engine.close();
    }
  });

  it('stops when the engine is destroyed mid-job, freeing its buffers, with no rejection', async () => {
    const store = new MemoryTuneStore();
    const engine = await tuningEngine(store);
    const storage = vi.spyOn(LaunchTimer.prototype, 'storage');
    const realTime = Autotuner.prototype.time;
    const time = vi.spyOn(Autotuner.prototype, 'time').mockImplementation(async function (this: Autotuner, ...args) {
      engine.destroy();
      return realTime.apply(this, args);
    });
    await engine.tuner.choose('relu-or-tanh', candidates, [4 * N, 4 * N]);
    engine.tuner.tuneInBackground();
    await expect(engine.tuner.settled()).resolves.toBeUndefined();
    expect(time).toHaveBeenCalledTimes(1);
    expect(store['map'].size).toBe(0);
    expect(timerBuffers(storage)).toBe(0);
    await engine.device.lost;
  });
});

describe('tuneNow', () => {
  it('answers the default, stores nothing and stops timing when the device is lost part way', async () => {
    const store = new MemoryTuneStore();
    const engine = await createEngine({ autotune: true, tuneStore: store, log: () => {} });
    const buffers = [engine.createStorage(4 * N, 'x'), engine.createStorage(4 * N, 'y')];
    const realTime = Autotuner.prototype.time;
    const time = vi.spyOn(Autotuner.prototype, 'time').mockImplementation(async function (this: Autotuner, ...args) {
      engine.device.destroy();
      await engine.device.lost;
      return realTime.apply(this, args);
    });
    expect(await engine.tuner.tuneNow('relu-or-tanh', candidates, buffers)).toBe('relu');
    expect(time).toHaveBeenCalledTimes(1);
    expect(store['map'].size).toBe(0);
    await engine.close();
  });
});

describe('background tuning switch', () => {
  it('is on by default and off when WEBGPU_DL_BACKGROUND_TUNE=0, as this suite sets it', async () => {
    const saved = process.env.WEBGPU_DL_BACKGROUND_TUNE;
    expect(saved).toBe('0'); // vitest.config.ts: only the tests about the tuner turn it on
    try {
      delete process.env.WEBGPU_DL_BACKGROUND_TUNE;
      expect(backgroundTuningDefault()).toBe(true);
      process.env.WEBGPU_DL_BACKGROUND_TUNE = '1';
      expect(backgroundTuningDefault()).toBe(true);
      process.env.WEBGPU_DL_BACKGROUND_TUNE = '0';
      expect(backgroundTuningDefault()).toBe(false);
    } finally {
      if (saved === undefined) delete process.env.WEBGPU_DL_BACKGROUND_TUNE;
      else process.env.WEBGPU_DL_BACKGROUND_TUNE = saved;
    }
  });

  it('off, a compile queues its shape classes but starts no round; the choices are the same', async () => {
    const store = new MemoryTuneStore();
    const engine = await createEngine({ autotune: true, tuneStore: store, log: () => {} });
    try {
      engine.tuner.background = false;
      engine.tuner.waitForIdle = async () => {};
      const time = vi.spyOn(Autotuner.prototype, 'time');
      expect(await engine.tuner.choose('relu-or-tanh', candidates, [4 * N, 4 * N])).toBe('relu');
      engine.tuner.tuneInBackground();
      await engine.tuner.settled();
      expect(time).not.toHaveBeenCalled();
      expect(engine.tuner.pending).toBe(1);
      engine.tuner.background = true;
      engine.tuner.tuneInBackground();
      await engine.tuner.settled();
      expect(time).toHaveBeenCalledTimes(2);
      expect(engine.tuner.pending).toBe(0);
    } finally {
      await engine.close();
    }
  });
});
