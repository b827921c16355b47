import { afterEach, describe, expect, it, vi } from 'vitest';
import { TimestampProfiler } from '../../src/gpu/profiler.js';
import { Autotuner, MemoryTuneStore } from '../../src/gpu/autotune.js';
import { LaunchTimer } from '../../src/gpu/tune_measure.js';
import { fastest } from '../../src/gpu/tune_timing.js';
import { activationForward } from '../../src/kernels/activation.js';
import { useEngine } from '../helpers/engine.js';

const engine = useEngine();
const N = 4096;

afterEach(() => {
  vi.restoreAllMocks();
  expect(engine().uncapturedErrors).toBe(0);
});

/**
 * GPU timestamps that read as `samples`, on any device (the software adapter may lack the
 * feature): the timer sees timestamp support and these per-pass times, and submits nothing for them.
 */
function fakeTimestamps(samples: number[]) {
  vi.spyOn(TimestampProfiler, 'supported').mockReturnValue(true);
  return vi.spyOn(LaunchTimer.prototype as unknown as { timestampSamples(): Promise<number[]> }, 'timestampSamples').mockResolvedValue(samples);
}

/** The compute pass encoders' prototype, to count dispatches (from a pass ended and never submitted). */
function passPrototype(): GPUComputePassEncoder {
  const encoder = engine().device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.end();
  encoder.finish();
  return Object.getPrototypeOf(pass);
}

/** Times a GELU over N floats, counting the submits and dispatches it takes. */
async function timeGelu() {
  const e = engine();
  const [x, y] = [e.createStorage(N * 4, 'x'), e.createStorage(N * 4, 'y')];
  const submits = vi.spyOn(e.device.queue, 'submit');
  const dispatches = vi.spyOn(passPrototype(), 'dispatchWorkgroups');
  try {
    const ms = await e.tuner.time([{ spec: activationForward({ kind: 'gelu' }, N), buffers: [0, 1] }], [x, y]);
    return { ms, submits: submits.mock.calls.length, dispatches: dispatches.mock.calls.length };
  } finally {
    e.buffers.destroy(x);
    e.buffers.destroy(y);
    expect(e.stats.liveBuffers).toBe(0);
  }
}

describe('timing a candidate on this device', () => {
  it('falls back to wall clock, over launches repeated in one submit, when the timestamps are quantised', async () => {
    // What Dawn on NVIDIA reports for a kernel of a few µs: 0 or one 65 µs step.
    fakeTimestamps([0, 0.065536, 0]);
    const { ms, submits, dispatches } = await timeGelu();
    expect(Number.isFinite(ms)).toBe(true);
    expect(ms).toBeGreaterThan(0);
    expect(ms).not.toBe(0.065536);
    // A warm-up, at least one submit that sets the repeat count, then three timed ones (timestamps
    // would have submitted nothing here).
    expect(submits).toBeGreaterThanOrEqual(5);
    expect(dispatches).toBeGreaterThanOrEqual(submits);
  });

  it('grows the repeats in one submit until it lasts the target, and reports the time per launch', async () => {
    fakeTimestamps([0, 0, 0]);
    // A fake clock: a submit costs 0.2 ms plus 0.25 ms per launch it holds.
    let clock = 0;
    let recorded = 0;
    const e = engine();
    const proto = passPrototype();
    const dispatch = proto.dispatchWorkgroups;
    vi.spyOn(proto, 'dispatchWorkgroups').mockImplementation(function (this: GPUComputePassEncoder, ...args: Parameters<GPUComputePassEncoder['dispatchWorkgroups']>) {
      recorded++;
      return dispatch.apply(this, args);
    });
    const submit = e.device.queue.submit.bind(e.device.queue);
    vi.spyOn(e.device.queue, 'submit').mockImplementation((buffers) => {
      clock += 0.2 + 0.25 * recorded;
      recorded = 0;
      submit(buffers);
    });
    vi.spyOn(performance, 'now').mockImplementation(() => clock);
    const { ms, dispatches } = await timeGelu();
    // 1 launch (0.45 ms) → 9 (2.45 ms) → 18 (4.7 ms ≥ 4): three timed submits of 18.
    expect(dispatches).toBe(1 + 1 + 9 + 18 + 3 * 18);
    expect(ms).toBeCloseTo((0.2 + 0.25 * 18) / 18, 9);
  });

  it('keeps GPU timestamps that resolve the kernel', async () => {
    const samples = fakeTimestamps([0.412, 0.431, 0.407]);
    const { ms, submits } = await timeGelu();
    expect(ms).toBe(0.412);
    expect(samples).toHaveBeenCalledTimes(1);
    expect(submits).toBe(0);
  });
});

describe('which clock timed a candidate', () => {
  /**
   * A fake clock: each submit costs 0.05 ms plus 0.001 ms per workgroup it dispatches, so a kernel
   * of more workgroups costs proportionally more, as on a GPU the timestamps cannot resolve.
   */
  function fakeWallClock() {
    let clock = 0;
    let workgroups = 0;
    const e = engine();
    const proto = passPrototype();
    const dispatch = proto.dispatchWorkgroups;
    vi.spyOn(proto, 'dispatchWorkgroups').mockImplementation(function (this: GPUComputePassEncoder, ...args: Parameters<GPUComputePassEncoder['dispatchWorkgroups']>) {
      workgroups += args[0] * (args[1] ?? 1) * (args[2] ?? 1);
      return dispatch.apply(this, args);
    });
    const submit = e.device.queue.submit.bind(e.device.queue);
    vi.spyOn(e.device.queue, 'submit').mockImplementation((buffers) => {
      clock += 0.05 + 0.001 * workgroups;
      workgroups = 0;
      submit(buffers);
    });
    vi.spyOn(performance, 'now').mockImplementation(() => clock);
  }

  /** Measures a GELU over `n` floats with a timer of its own, which says how it timed it. */
  async function measureGelu(n: number) {
    const e = engine();
    const timer = new LaunchTimer(e);
    try {
      const [x, y] = timer.storage([n * 4, n * 4]);
      const ms = await timer.time([{ spec: activationForward({ kind: 'gelu' }, n), buffers: [0, 1] }], [x, y]);
      expect(timer.last?.ms).toBe(ms);
      return timer.last!;
    } finally {
      timer.dispose();
      expect(e.stats.liveBuffers).toBe(0);
    }
  }

  it('says the timestamps, when they resolve the kernel', async () => {
    fakeTimestamps([0.412, 0.431, 0.407]);
    expect(await measureGelu(N)).toEqual({ ms: 0.412, timer: 'timestamps' });
  });

  it('says wall clock and the quantum, when the timestamps are coarse; and ranks what they tie', async () => {
    // Both kernels read 0 or one 65 µs step, as Dawn on NVIDIA reports kernels of a few µs.
    fakeTimestamps([0, 0.065536, 0]);
    fakeWallClock();
    const small = await measureGelu(N);
    const large = await measureGelu(8 * N);
    for (const t of [small, large]) expect(t).toMatchObject({ timer: 'wall-clock', reason: 'coarse-timestamps', quantumMs: 0.065536 });
    // Each repeat count makes a submit last at least WALL_TARGET_MS, so the fixed 0.05 ms of a
    // submit is spread over the repeats: per launch, close to the workgroups' cost.
    const workgroups = (n: number) => activationForward({ kind: 'gelu' }, n).workgroups.reduce((a, b) => a * b, 1);
    expect(small.ms).toBeCloseTo(0.001 * workgroups(N), 2);
    expect(large.ms).toBeCloseTo(0.001 * workgroups(8 * N), 2);
    expect(fastest([large.ms, small.ms])).toBe(1);
  });

  it('says wall clock without a quantum, on a device without timestamp queries', async () => {
    vi.spyOn(TimestampProfiler, 'supported').mockReturnValue(false);
    fakeWallClock();
    const timing = await measureGelu(N);
    expect(timing).toMatchObject({ timer: 'wall-clock', reason: 'no-timestamps' });
    expect(timing).not.toHaveProperty('quantumMs');
    if (timing.timer === 'wall-clock') expect(timing.repeats).toBeGreaterThan(1);
  });

  it('goes into the tuning record of the shape class, with the winner the fake clock ranks first', async () => {
    fakeTimestamps([0, 0.065536, 0]);
    fakeWallClock();
    const e = engine();
    const tuner = new Autotuner(e, true, new MemoryTuneStore(), { background: false });
    const candidate = (id: string, n: number) => ({ id, spec: activationForward({ kind: 'gelu' }, n) });
    const buffers = [e.createStorage(8 * N * 4, 'x'), e.createStorage(8 * N * 4, 'y')];
    try {
      const id = await tuner.tuneNow('gelu-test', [candidate('large', 8 * N), candidate('small', N)], buffers);
      expect(id).toBe('small');
      const record = tuner.records['gelu-test'];
      expect(record.winner).toBe('small');
      expect(Object.keys(record.timings).sort()).toEqual(['large', 'small']);
      for (const t of Object.values(record.timings)) expect(t).toMatchObject({ timer: 'wall-clock', reason: 'coarse-timestamps', quantumMs: 0.065536 });
      expect(record.timings.small.ms).toBeLessThan(record.timings.large.ms);
    } finally {
      for (const b of buffers) e.buffers.destroy(b);
    }
  });
});
