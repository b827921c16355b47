import { GCProfiler, getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { compileStep, type CompiledStep } from '../../src/graph/compile.js';
import { ParameterStore } from '../../src/graph/params.js';
import { mnistCnn } from '../../src/models/mnist.js';
import { Dropout } from '../../src/nn/dropout.js';
import { Linear, ReLU, Sequential } from '../../src/nn/layers.js';
import { Adam } from '../../src/optim/optimizers.js';
import type { UpdateRule } from '../../src/graph/update.js';
import { cosine } from '../../src/train/schedules.js';
import { useEngine } from '../helpers/engine.js';
import { integers, uniform } from '../helpers/random.js';

const engine = useEngine();

// A full collection on demand, so what a loop leaves behind can be told from garbage not yet swept.
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

/**
 * Bytes the JavaScript heap allocated in its young generation while `work` ran, or undefined when a
 * collection ran meanwhile (it would have freed some of them, so the difference would mean nothing).
 */
function youngBytes(work: () => void): number | undefined {
  const used = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_used_size;
  collect();
  const gcs = new GCProfiler();
  gcs.start();
  const before = used();
  work();
  const after = used();
  return gcs.stop().statistics.length === 0 ? after - before : undefined;
}

/**
 * Bytes `runs(n)` allocates per run once V8 has optimised the loop. Until then every float operation
 * allocates a number on the heap: the least over windows of runs (short enough that the young
 * generation holds what they allocate) is what a long training run allocates per step.
 */
function steadyBytesPerRun(runs: (count: number) => void): number {
  let perRun = Infinity;
  let measured = 0;
  for (let window = 0; window < 20; window++) {
    const bytes = youngBytes(() => runs(100));
    if (bytes === undefined) continue;
    measured++;
    perRun = Math.min(perRun, bytes / 100);
  }
  expect(measured, 'windows of runs without a collection').toBeGreaterThan(0);
  return perRun;
}

/** Bytes a training step may allocate per run: WebGPU's encoder, pass and command buffer (about 450 on Dawn), and a little. */
const ALLOCATION_BOUND = 600;

/** Bytes of live objects after a full collection (code compiled meanwhile is left out: it is not the loop's). */
function dataBytes(): number {
  collect();
  return getHeapSpaceStatistics()
    .filter((s) => /^(new|old|large_object)_space$/.test(s.space_name))
    .reduce((sum, s) => sum + s.space_used_size, 0);
}

/** A 12 → 16 → 4 MLP's training step; `dropout` > 0 puts a Dropout of that p after its hidden layer. */
async function mlpStep(store: ParameterStore, optimizer: UpdateRule = new Adam({ lr: 1e-3 }), batch = 8, dropout = 0) {
  const hidden = dropout > 0 ? [ReLU(), new Dropout(dropout)] : [ReLU()];
  const model = new Sequential(new Linear(12, 16), ...hidden, new Linear(16, 4));
  model.register(store);
  return compileStep(engine(), {
    inputs: { x: { shape: [batch, 12] }, labels: { shape: [batch], dtype: 'u32' } },
    stores: [store],
    build: (g, { x, labels }) => {
      const [loss] = g.apply('softmax_cross_entropy', [model.apply(g, x, { store, training: true }), labels], {});
      return { outputs: { loss }, minimize: { loss, store, optimizer } };
    },
  });
}

/** Counts the compute passes and dispatches the device's command encoders record while `work` runs. */
function countPasses(work: () => void): { passes: number; dispatches: number; encoders: number } {
  const device = engine().device;
  const original = device.createCommandEncoder;
  const counts = { passes: 0, dispatches: 0, encoders: 0 };
  device.createCommandEncoder = function (descriptor?: GPUCommandEncoderDescriptor) {
    const encoder = original.call(device, descriptor);
    counts.encoders++;
    const begin = encoder.beginComputePass;
    encoder.beginComputePass = function (d?: GPUComputePassDescriptor) {
      const pass = begin.call(encoder, d);
      counts.passes++;
      const dispatch = pass.dispatchWorkgroups;
      pass.dispatchWorkgroups = function (x: number, y?: number, z?: number) {
        counts.dispatches++;
        return dispatch.call(pass, x, y, z);
      };
      return pass;
    };
    return encoder;
  };
  try {
    work();
  } finally {
    device.createCommandEncoder = original;
  }
  return counts;
}

describe('step overhead', () => {
  it('reports the CPU time of encoding and submitting a run, a mean over recent runs', async () => {
    const store = new ParameterStore(engine(), { seed: 1 });
    const step = await mlpStep(store);
    expect(step.stats.encodeMicros).toBe(0); // no run yet
    step.write({ x: uniform(8 * 12, 2), labels: integers(8, 4, 3) });
    for (let i = 0; i < 5; i++) step.run();
    const micros = step.stats.encodeMicros;
    expect(micros).toBeGreaterThan(0);
    expect(Number.isFinite(micros)).toBe(true);
    await step.read('loss');
    step.dispose();
    store.dispose();
  });

  it('records a whole training step, hooks included, in one compute pass of one command buffer', async () => {
    for (const cnn of [false, true]) {
      const store = new ParameterStore(engine(), { seed: 2 });
      let step: CompiledStep<'x' | 'labels'>;
      if (cnn) {
        const model = mnistCnn([8, 8]);
        model.register(store);
        step = await compileStep(engine(), {
          inputs: { x: { shape: [2, 1, 8, 8] }, labels: { shape: [2], dtype: 'u32' } },
          stores: [store],
          build: (g, { x, labels }) => {
            const [loss] = g.apply('softmax_cross_entropy', [model.apply(g, x, { store, training: true }), labels], {});
            return { outputs: { loss }, minimize: { loss, store, optimizer: new Adam({ lr: 1e-3 }) } };
          },
        });
      } else {
        step = await mlpStep(store);
      }
      let inPass = 0;
      const counts = countPasses(() => step.run({}, { inPass: () => inPass++ }));
      expect(inPass).toBe(1);
      expect(counts).toEqual({ passes: 1, dispatches: step.stats.dispatches, encoders: 1 });
      expect(step.stats.passes).toBe(1);
      await step.read('loss');
      step.dispose();
      store.dispose();
    }
  });

  it('allocates next to nothing per run and retains nothing over 200 runs, with Adam under a cosine schedule', async () => {
    const store = new ParameterStore(engine(), { seed: 3 });
    const adam = new Adam({ lr: 1e-3 });
    const step = await mlpStep(store, adam);
    step.write({ x: uniform(8 * 12, 4), labels: integers(8, 4, 5) });
    // Background tuning would allocate on this heap while the loop runs.
    await engine().tuner.settled();
    // As the Trainer does: a new learning rate before every step, so the optimizer's uniforms change.
    const schedule = cosine(1e-5);
    const runs = (count: number) => {
      for (let i = 0; i < count; i++) {
        adam.lr = schedule(i, count, 1e-3);
        step.run();
      }
    };
    runs(1000);
    await engine().sync();
    const live = engine().stats.liveBuffers;

    const perRun = steadyBytesPerRun(runs);
    await engine().sync();
    const heapBefore = dataBytes();
    runs(200);
    await engine().sync();
    const retained = dataBytes() - heapBefore;

    console.log(`step overhead: ${perRun.toFixed(0)} bytes allocated per run, ${retained} bytes retained over 200 runs`);
    expect(engine().stats.liveBuffers).toBe(live);
    // Building the optimizer's uniforms anew each step cost about 2.5 kB more (2.96 kB per run in all).
    expect(perRun).toBeLessThan(ALLOCATION_BOUND);
    expect(retained).toBeLessThan(64 * 1024);
    step.dispose();
    store.dispose();
  });

  it('allocates no more per run with a training-mode Dropout, whose stream changes every run', async () => {
    const perRun: number[] = [];
    const dispatches: number[] = [];
    for (const p of [0, 0.5]) {
      const store = new ParameterStore(engine(), { seed: 6 });
      const step = await mlpStep(store, new Adam({ lr: 1e-3 }), 8, p);
      dispatches.push(step.stats.dispatches);
      step.write({ x: uniform(8 * 12, 7), labels: integers(8, 4, 8) });
      await engine().tuner.settled();
      const runs = (count: number) => {
        for (let i = 0; i < count; i++) step.run();
      };
      runs(1000);
      await engine().sync();
      perRun.push(steadyBytesPerRun(runs));
      await engine().sync();
      step.dispose();
      store.dispose();
    }
    // The dropout forward and backward launches are in the second step (so is a ReLU it keeps from fusing).
    expect(dispatches[1]).toBeGreaterThan(dispatches[0]);
    const [plain, dropout] = perRun;
    console.log(`step overhead: ${plain.toFixed(0)} bytes per run without dropout, ${dropout.toFixed(0)} with`);
    // Building dropout's kernel description anew for each of its two launches cost kilobytes per run.
    expect(dropout).toBeLessThan(plain + 64);
    expect(dropout).toBeLessThan(ALLOCATION_BOUND);
  });
});
