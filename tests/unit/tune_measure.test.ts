import { afterEach, describe, expect, it, vi } from 'vitest';
import { TimestampProfiler } from '../../src/gpu/profiler.js';
import { LaunchTimer } from '../../src/gpu/tune_measure.js';
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
