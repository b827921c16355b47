import { afterEach, describe, expect, it, vi } from 'vitest';
import { Autotuner, type TuneStore } from '../../src/gpu/autotune.js';
import { createEngine, type Engine } from '../../src/gpu/engine.js';
import type { ImageDataset } from '../../src/data/dataset.js';
import { compileStep } from '../../src/graph/compile.js';
import { ParameterStore } from '../../src/graph/params.js';
import { Flatten, Linear, ReLU, Sequential } from '../../src/nn/layers.js';
import { Adam } from '../../src/optim/optimizers.js';
import { Trainer } from '../../src/train/trainer.js';
import { activationForward } from '../../src/kernels/activation.js';

/** A tune store that can be copied, so two runs can start from the same cache. */
class CopyableStore implements TuneStore {
  constructor(readonly entries = new Map<string, string>()) {}
  get(key: string): string | undefined {
    return this.entries.get(key);
  }
  set(key: string, value: string): void {
    this.entries.set(key, value);
  }
  copy(): CopyableStore {
    return new CopyableStore(new Map(this.entries));
  }
}

async function tunedEngine(store: TuneStore): Promise<Engine> {
  const engine = await createEngine({ autotune: true, tuneStore: store, log: () => {} });
  // Background jobs start at once (the suite turns them off by default), so that they land while the run trains.
  engine.tuner.background = true;
  engine.tuner.waitForIdle = () => new Promise((resolve) => setTimeout(resolve, 0));
  return engine;
}

/** 48 samples of 8×8, the class setting a bright row. */
function tinyDataset(): ImageDataset {
  const n = 48;
  const images = new Uint8Array(n * 64);
  const labels = new Uint8Array(n);
  for (let s = 0; s < n; s++) {
    labels[s] = s % 6;
    for (let p = 0; p < 64; p++) images[s * 64 + p] = Math.floor(p / 8) === labels[s] ? 200 + ((s * 7 + p) % 55) : (s * 31 + p * 17) % 60;
  }
  return { images, labels, count: n, height: 8, width: 8, classes: 6 };
}

function tinyTrainer(engine: Engine): Trainer {
  return new Trainer(engine, {
    model: new Sequential(new Flatten(), new Linear(64, 20), ReLU(), new Linear(20, 6)),
    inputShape: [1, 8, 8],
    classes: 6,
    optimizer: new Adam({ lr: 1e-2 }),
    seed: 7,
  });
}

async function weights(trainer: Trainer): Promise<Float32Array[]> {
  return Promise.all(trainer.store.stateDict.map((p) => trainer.store.read(p.name)));
}

/** Rejects after `ms`: a compile that waits for the tuner would otherwise hang the test until its timeout. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('the first step never waits for the autotuner', () => {
  it('trains to its first step and completes fit while the tuner never finishes', async () => {
    const timing = vi.spyOn(Autotuner.prototype, 'time').mockImplementation(() => new Promise(() => {}));
    const engine = await tunedEngine(new CopyableStore());
    try {
      const trainer = tinyTrainer(engine);
      const steps: number[] = [];
      const history = await within(
        trainer.fit(tinyDataset(), { epochs: 2, batchSize: 16, progressEvery: 1, onProgress: (p) => steps.push(p.step), evaluate: tinyDataset() }),
        60_000,
        'fit',
      );
      expect(steps[0]).toBe(1);
      expect(history.map((h) => h.epoch)).toEqual([1, 2]);
      expect(history.every((h) => Number.isFinite(h.loss) && Number.isFinite(h.evalLoss!))).toBe(true);
      // The tuner did start in the background (and is still stuck in its first timing).
      expect(timing).toHaveBeenCalled();
      trainer.dispose();
      expect(engine.stats.liveBuffers).toBe(0);
    } finally {
      await engine.close();
    }
  });
});

describe('runs from the same tune cache', () => {
  it('train to identical weights with the same kernels, whatever the background tuner measures meanwhile', async () => {
    // Noisy timings: every background measurement ranks the candidates anew.
    vi.spyOn(Autotuner.prototype, 'time').mockImplementation(async () => Math.random());
    const cache = new CopyableStore();
    const run = async () => {
      const store = cache.copy();
      const engine = await tunedEngine(store);
      try {
        const trainer = tinyTrainer(engine);
        await trainer.fit(tinyDataset(), { epochs: 3, batchSize: 16, evaluate: tinyDataset() });
        await engine.tuner.settled?.();
        const result = { weights: await weights(trainer), choices: engine.tuner.choices, stored: store.entries.size };
        trainer.dispose();
        return result;
      } finally {
        await engine.close();
      }
    };
    const first = await run();
    const second = await run();
    // Each run tuned in the background and stored what it found, into its own copy of the cache.
    expect(first.stored).toBeGreaterThan(0);
    expect(second.stored).toBe(first.stored);
    expect(second.choices).toEqual(first.choices);
    second.weights.forEach((w, i) => expect(w).toEqual(first.weights[i]));
  });
});

describe('background results', () => {
  it('are used by the next engine and, after refresh(), by the next compile, never by a step already compiled', async () => {
    // Workgroup-tiled matmuls measure fastest: unlike the default register blocks for these shapes.
    vi.spyOn(Autotuner.prototype, 'time').mockImplementation(async (launches) => (launches[0].spec.name.includes('tile') ? 1 : 2));
    const store = new CopyableStore();
    const engine = await tunedEngine(store);
    const model = new Sequential(new Linear(40, 36), ReLU(), new Linear(36, 12));
    const params = new ParameterStore(engine, { seed: 3 });
    model.register(params);
    const compile = () =>
      compileStep(engine, {
        inputs: { x: { shape: [24, 40] } },
        stores: [params],
        build: (g, { x }) => ({ outputs: { y: model.apply(g, x, { store: params, training: false }) } }),
      });
    const kernels = (step: Awaited<ReturnType<typeof compile>>) => (step as unknown as { plan: { launchList: { name: string }[] } }).plan.launchList.map((l) => l.name).filter((n) => n.startsWith('matmul'));
    try {
      const running = await compile();
      const before = kernels(running);
      expect(before.length).toBe(2);
      expect(before.some((n) => n.includes('tile'))).toBe(false);
      const x = new Float32Array(24 * 40).map((_, i) => Math.sin(i));
      running.run({ x });
      const y0 = await running.read('y');

      await engine.tuner.settled();
      expect(Object.values(Object.fromEntries(store.entries)).filter((id) => id.startsWith('tile')).length).toBe(2);
      // The step compiled before the results keeps its kernels and its numbers.
      expect(kernels(running)).toEqual(before);
      running.run({ x });
      expect(await running.read('y')).toEqual(y0);
      // This engine answers each shape class as it did, until refresh().
      const again = await compile();
      expect(kernels(again)).toEqual(before);
      engine.tuner.refresh();
      const next = await compile();
      expect(kernels(next).every((n) => n.includes('tile'))).toBe(true);
      for (const s of [running, again, next]) s.dispose();

      // A new engine on the same cache (the next page load) starts from the results.
      const fresh = await tunedEngine(store);
      try {
        const freshParams = new ParameterStore(fresh, { seed: 3 });
        const freshModel = new Sequential(new Linear(40, 36), ReLU(), new Linear(36, 12));
        freshModel.register(freshParams);
        const step = await compileStep(fresh, {
          inputs: { x: { shape: [24, 40] } },
          stores: [freshParams],
          build: (g, { x }) => ({ outputs: { y: freshModel.apply(g, x, { store: freshParams, training: false }) } }),
        });
        expect(kernels(step as never).every((n) => n.includes('tile'))).toBe(true);
        expect(fresh.tuner.pending).toBe(0);
        step.dispose();
        freshParams.dispose();
      } finally {
        await fresh.close();
      }
      params.dispose();
    } finally {
      await engine.close();
    }
  });
});

describe('tuneNow', () => {
  it('times an unknown shape class before answering, stores the winner, and answers known ones from the store', async () => {
    const time = vi.spyOn(Autotuner.prototype, 'time').mockImplementation(async (launches) => (launches[0].spec.name.includes('tanh') ? 1 : 2));
    const store = new CopyableStore();
    const engine = await tunedEngine(store);
    try {
      const [x, y] = [engine.createStorage(256 * 4, 'x'), engine.createStorage(256 * 4, 'y')];
      const candidates = [
        { id: 'relu', spec: activationForward({ kind: 'relu' }, 256) },
        { id: 'tanh', spec: activationForward({ kind: 'tanh' }, 256) },
      ];
      expect(await engine.tuner.tuneNow('bench-class', candidates, [x, y])).toBe('tanh');
      expect(time).toHaveBeenCalledTimes(2);
      expect([...store.entries.values()]).toEqual(['tanh']);
      expect(engine.tuner.choices).toEqual({ 'bench-class': 'tanh' });
      expect(await engine.tuner.tuneNow('bench-class', candidates, [x, y])).toBe('tanh');
      expect(time).toHaveBeenCalledTimes(2);
      // A device where nothing can be timed stores nothing.
      time.mockRejectedValue(new Error('device lost'));
      expect(await engine.tuner.tuneNow('other-class', candidates, [x, y])).toBe('relu');
      expect(store.entries.size).toBe(1);
      engine.buffers.destroy(x);
      engine.buffers.destroy(y);
    } finally {
      await engine.close();
    }
  });
});

describe('background rounds', () => {
  const info = { vendor: 'nvidia', architecture: 'hopper', device: '', description: '', software: false, features: [], limits: { maxStorageBufferBindingSize: 2 ** 30, maxBufferSize: 2 ** 30, maxComputeWorkgroupStorageSize: 49152, maxComputeInvocationsPerWorkgroup: 1024, maxComputeWorkgroupSizeX: 1024, maxComputeWorkgroupSizeY: 1024, maxComputeWorkgroupsPerDimension: 65535, maxStorageBuffersPerShaderStage: 10 } };
  const candidates = [
    { id: 'relu', spec: activationForward({ kind: 'relu' }, 256) },
    { id: 'tanh', spec: activationForward({ kind: 'tanh' }, 256) },
  ];

  it('end on an engine that cannot be used, keeping the job for the next compile, without spinning', async () => {
    const time = vi.spyOn(Autotuner.prototype, 'time');
    let waits = 0;
    const lost = { info, check: () => { throw new Error('device lost'); } };
    const tuner = new Autotuner(lost as never, true, new CopyableStore(), { background: true, waitForIdle: async () => void waits++ });
    await tuner.choose('c', candidates, [1024, 1024]);
    tuner.tuneInBackground();
    await tuner.settled();
    expect(waits).toBe(1);
    expect(tuner.pending).toBe(1);
    expect(time).not.toHaveBeenCalled();
  });

  it('end quietly when the wait for idle time fails', async () => {
    const tuner = new Autotuner({ info } as never, true, new CopyableStore(), { background: true, waitForIdle: () => Promise.reject(new Error('no idle time')) });
    await tuner.choose('c', candidates, [1024, 1024]);
    tuner.tuneInBackground();
    await expect(tuner.settled()).resolves.toBeUndefined();
    expect(tuner.pending).toBe(1);
  });
});
