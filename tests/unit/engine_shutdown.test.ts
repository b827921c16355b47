import { afterEach, describe, expect, it, vi } from 'vitest';
import { Autotuner, MemoryTuneStore } from '../../src/gpu/autotune.js';
import { createEngine, type Engine } from '../../src/gpu/engine.js';
import { LaunchTimer } from '../../src/gpu/tune_measure.js';
import { activationForward } from '../../src/kernels/activation.js';

// An engine going away (destroy, close) or replacing a lost device (recover) while the background
// tuner has GPU work in flight: Dawn can crash the process natively when a device is destroyed
// under a pending map or wait for submitted work, so the device must outlive the tuner's round,
// and no wait for that round may hang.

const N = 4096;
const candidates = [
  { id: 'relu', spec: activationForward({ kind: 'relu' }, N) },
  { id: 'tanh', spec: activationForward({ kind: 'tanh' }, N) },
];

/** An engine whose background rounds start at once when asked (the suite turns them off by default). */
async function tuningEngine(store = new MemoryTuneStore()): Promise<Engine> {
  const engine = await createEngine({ autotune: true, tuneStore: store, log: () => {} });
  engine.tuner.background = true;
  engine.tuner.waitForIdle = async () => {};
  return engine;
}

/** Buffers still alive in the registries of the timers the background tuner made. */
function timerBuffers(storage: { mock: { contexts: unknown[] } }): number {
  return storage.mock.contexts.reduce<number>((n, timer) => n + (timer as { registry: { liveBuffers: number } }).registry.liveBuffers, 0);
}

/** Calls `then` right after the first submit the background tuner makes: its GPU work is then in flight. */
function afterFirstSubmit(engine: Engine, then: () => void): void {
  const queue = engine.device.queue;
  const submit = queue.submit.bind(queue);
  let fired = false;
  queue.submit = (buffers: Iterable<GPUCommandBuffer>) => {
    submit(buffers);
    if (!fired) {
      fired = true;
      then();
    }
  };
}

/** Records whether the background tuner was still in a round when `device` was destroyed. */
function watchDestroy(engine: Engine, device: GPUDevice): { destroyed: boolean; tunerBusy: boolean | undefined } {
  const seen = { destroyed: false, tunerBusy: undefined as boolean | undefined };
  const destroy = device.destroy.bind(device);
  device.destroy = () => {
    seen.destroyed = true;
    seen.tunerBusy = engine.tuner.busy;
    destroy();
  };
  return seen;
}

/** Rejects after `ms`: what this guards would otherwise hang the test until its timeout. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('an engine going away while a background timing is in flight', () => {
  for (const how of ['destroy', 'close'] as const) {
    it(`${how}() destroys the device only after the round ended: no error, no buffer left, every promise settles`, async () => {
      const store = new MemoryTuneStore();
      const engine = await tuningEngine(store);
      const storage = vi.spyOn(LaunchTimer.prototype, 'storage');
      const device = engine.device;
      const seen = watchDestroy(engine, device);
      let closing: Promise<void> | undefined;
      afterFirstSubmit(engine, () => {
        if (how === 'destroy') engine.destroy();
        else closing = engine.close();
      });
      await engine.tuner.choose('relu-or-tanh', candidates, [4 * N, 4 * N]);
      engine.tuner.tuneInBackground();

      await within(engine.tuner.settled(), 30_000, 'the background round');
      await within(closing ?? Promise.resolve(), 30_000, 'close()');
      const lost = await within(device.lost, 30_000, 'the device loss');
      expect(lost.reason).toBe('destroyed');
      expect(seen).toEqual({ destroyed: true, tunerBusy: false });
      expect(storage).toHaveBeenCalled(); // the round did make its operands...
      expect(timerBuffers(storage)).toBe(0); // ...and freed them
      expect(engine.stats.liveBuffers).toBe(0);
      expect(engine.uncapturedErrors).toBe(0);
      expect(store['map'].size).toBe(0); // a round cut short ranks nothing
      expect(engine.tuner.pending).toBe(0); // and a stopped tuner keeps no jobs
    });
  }

  it('close() ends a round waiting for idle time that never comes, without waiting for the bound', async () => {
    const engine = await tuningEngine();
    engine.tuner.stopWaitMs = 600_000; // only stop() waking the wait can end it in time
    let waits = 0;
    engine.tuner.waitForIdle = () => {
      waits++;
      return new Promise(() => {});
    };
    await engine.tuner.choose('relu-or-tanh', candidates, [4 * N, 4 * N]);
    engine.tuner.tuneInBackground();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(engine.tuner.busy).toBe(true);
    await within(engine.close(), 30_000, 'close()');
    await within(engine.tuner.settled(), 30_000, 'the background round');
    expect(engine.tuner.busy).toBe(false);
    expect(waits).toBe(1);
  });

  it('close() gives up on a timing that never ends after stopWaitMs, and still destroys the device', async () => {
    vi.spyOn(Autotuner.prototype, 'time').mockImplementation(() => new Promise(() => {}));
    const engine = await tuningEngine();
    engine.tuner.stopWaitMs = 50;
    const device = engine.device;
    await engine.tuner.choose('relu-or-tanh', candidates, [4 * N, 4 * N]);
    engine.tuner.tuneInBackground();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(engine.tuner.busy).toBe(true);
    expect(await within(engine.tuner.stop(), 30_000, 'stop()')).toBe(false);
    await within(engine.close(), 30_000, 'close()');
    expect((await device.lost).reason).toBe('destroyed');
    expect(engine.tuner.busy).toBe(true); // the stuck round is abandoned, not awaited
  });
});

describe('recover() and the background tuner', () => {
  it('waits for the round on the lost device to end before opening a new one; the recovered engine tunes again', async () => {
    const store = new MemoryTuneStore();
    const engine = await tuningEngine(store);
    const storage = vi.spyOn(LaunchTimer.prototype, 'storage');
    const old = engine.device;
    // The device is lost (as a driver reset does) while the round's first timing is on the GPU.
    afterFirstSubmit(engine, () => old.destroy());
    await engine.tuner.choose('relu-or-tanh', candidates, [4 * N, 4 * N]);
    engine.tuner.tuneInBackground();
    await within(old.lost, 30_000, 'the device loss');
    let busyWhenReopened: boolean | undefined;
    const reopen = (engine as unknown as { reopen: () => Promise<unknown> }).reopen;
    (engine as unknown as { reopen: () => Promise<unknown> }).reopen = () => {
      busyWhenReopened = engine.tuner.busy;
      return reopen();
    };
    await within(engine.recover(), 30_000, 'recover()');
    expect(busyWhenReopened).toBe(false);
    expect(timerBuffers(storage)).toBe(0);
    expect(store['map'].size).toBe(0);
    expect(engine.tuner.pending).toBe(1); // the job waits for a compile on the new device

    // The recovered engine's tuner works: a compile's round times on the new device and stores a winner.
    engine.tuner.tuneInBackground();
    await within(engine.tuner.settled(), 30_000, 'the round on the new device');
    expect(storage.mock.contexts.at(-1)).toHaveProperty('device', engine.device);
    expect(['relu', 'tanh']).toContain([...store['map'].values()][0]);
    expect(engine.tuner.pending).toBe(0);
    expect(engine.uncapturedErrors).toBe(0);
    expect(timerBuffers(storage)).toBe(0);
    await engine.close();
  });
});

describe('the WebGPU instance in Node', () => {
  it('is one per process, shared by engines and recovered devices, and outlives them', async () => {
    // An instance collected while Dawn still processes events of its devices (a pipeline compiling
    // on a lost device) crashed test workers natively: nothing may let go of it.
    const a = await createEngine({ autotune: false, tuneStore: new MemoryTuneStore(), log: () => {} });
    const b = await createEngine({ autotune: false, tuneStore: new MemoryTuneStore(), log: () => {} });
    const gpu = a.navigatorGpu;
    expect(gpu).toBeDefined();
    expect(b.navigatorGpu).toBe(gpu);
    expect(b.info).toEqual(a.info); // the same adapter, software flag included
    const old = a.device;
    old.destroy();
    await old.lost;
    await a.recover();
    expect(a.navigatorGpu).toBe(gpu);
    expect(a.device).not.toBe(old);
    await a.close();
    await b.close();
    const c = await createEngine({ autotune: false, tuneStore: new MemoryTuneStore(), log: () => {} });
    expect(c.navigatorGpu).toBe(gpu);
    await c.close();
  });
});

