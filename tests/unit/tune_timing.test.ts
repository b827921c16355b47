import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MAX_WALL_REPEATS, QUANTA_PER_SAMPLE, WALL_TARGET_MS, fastest, nextRepeatCount, timestampQuantum, timingMethod } from '../../src/gpu/tune_timing.js';

// Dawn on NVIDIA reports timestamps in steps of about 65 µs.
const STEP = 0.065536;

describe('timestamp quantisation', () => {
  it('finds the step of samples that lie on a grid', () => {
    expect(timestampQuantum([STEP, 2 * STEP, STEP, 3 * STEP])).toBeCloseTo(STEP, 9);
    // Nanosecond rounding of the ticks keeps them on the grid.
    expect(timestampQuantum([0.065536, 0.131073, 0.196607])).toBeCloseTo(STEP, 5);
  });

  it('reads repeated identical samples as one step (a real clock jitters)', () => {
    expect(timestampQuantum([STEP, STEP, STEP])).toBe(STEP);
  });

  it('reads a zero sample as a clock that did not see the work', () => {
    expect(timestampQuantum([0, STEP, 0])).toBe(STEP);
    expect(timestampQuantum([0, 0, 0])).toBe(Infinity);
  });

  it('finds no step in jittering samples of a fine clock', () => {
    expect(timestampQuantum([0.01234, 0.01251, 0.01247])).toBe(0);
    expect(timestampQuantum([1.2345, 2.4711, 0.9876, 1.5])).toBe(0);
    expect(timestampQuantum([0.5])).toBe(0);
  });

  it('finds no step in samples of a fine clock (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0.002, max: 50, noNaN: true }), { minLength: 3, maxLength: 8 }), (samples) => {
        // Nanosecond-resolution readings: distinct, and on no grid of 1 µs or more.
        const fine = samples.map((s, i) => Math.round((s + (i + 1) * 1.37e-4) * 1e6) / 1e6);
        expect(timestampQuantum(fine)).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('finds the step of any quantised clock (property)', () => {
    fc.assert(
      fc.property(fc.double({ min: 0.002, max: 1, noNaN: true }), fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 3, maxLength: 8 }), (step, ks) => {
        fc.pre(new Set(ks).size >= 2);
        const q = timestampQuantum(ks.map((k) => k * step));
        // The common step of these multiples: `step` times the gcd of the ks.
        const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);
        expect(q / (step * ks.reduce(gcd))).toBeCloseTo(1, 3);
      }),
      { numRuns: 300 },
    );
  });
});

describe('timing method', () => {
  it('keeps timestamps that resolve the kernel', () => {
    expect(timingMethod([0.41, 0.43, 0.42])).toEqual({ kind: 'timestamps', ms: 0.42 });
    // Quantised, but the kernel spans many steps: the step is at most 1/20 of the time.
    const long = [40, 41, 42].map((k) => k * STEP);
    expect(timingMethod(long)).toEqual({ kind: 'timestamps', ms: 41 * STEP });
  });

  it('falls back to wall clock when a small kernel measures 0 or one step', () => {
    const method = timingMethod([0, STEP, 0]);
    expect(method.kind).toBe('wall-clock');
    expect(timingMethod([STEP, STEP, STEP])).toEqual({ kind: 'wall-clock', quantumMs: STEP });
    expect(timingMethod([STEP, 2 * STEP, STEP]).kind).toBe('wall-clock');
    expect(timingMethod([(QUANTA_PER_SAMPLE - 2) * STEP, (QUANTA_PER_SAMPLE - 1) * STEP]).kind).toBe('wall-clock');
    expect(timingMethod([0, 0, 0]).kind).toBe('wall-clock');
  });

  it('ranks two small candidates that timestamps tie, once timed by wall clock', () => {
    // Two kernels of 10 µs and 14 µs: the quantised clock reads both as 0 or one step.
    const a = [0, STEP, 0];
    const b = [0, STEP, 0];
    expect(timingMethod(a).kind).toBe('wall-clock');
    expect(timingMethod(b).kind).toBe('wall-clock');
    // Wall clock: a submit of 1 launch costs ~0.2 ms of overhead, so the count grows to the target.
    const wall = (perLaunch: number) => (repeats: number) => 0.2 + perLaunch * repeats;
    const repeatsFor = (time: (r: number) => number) => {
      let r = 1;
      for (let next = nextRepeatCount(r, time(r)); next !== undefined; next = nextRepeatCount(r, time(r))) r = next;
      return r;
    };
    const times = [0.01, 0.014].map((per) => {
      const r = repeatsFor(wall(per));
      expect(wall(per)(r)).toBeGreaterThanOrEqual(WALL_TARGET_MS);
      return wall(per)(r) / r;
    });
    expect(fastest(times)).toBe(0);
  });
});

describe('wall-clock repeat count', () => {
  it('grows at least twofold until a submit lasts the target, and stops there', () => {
    expect(nextRepeatCount(1, 0.3)).toBe(Math.ceil(WALL_TARGET_MS / 0.3));
    expect(nextRepeatCount(10, WALL_TARGET_MS / 1.5)).toBe(20);
    expect(nextRepeatCount(64, WALL_TARGET_MS)).toBeUndefined();
    expect(nextRepeatCount(64, WALL_TARGET_MS * 3)).toBeUndefined();
  });

  it('never passes its cap, even for work the clock reads as free', () => {
    expect(nextRepeatCount(1, 0)).toBe(MAX_WALL_REPEATS);
    expect(nextRepeatCount(MAX_WALL_REPEATS, 0)).toBeUndefined();
    fc.assert(
      fc.property(fc.integer({ min: 1, max: MAX_WALL_REPEATS }), fc.double({ min: 0, max: 10, noNaN: true }), (r, ms) => {
        const next = nextRepeatCount(r, ms);
        if (next !== undefined) {
          expect(next).toBeGreaterThan(r);
          expect(next).toBeLessThanOrEqual(MAX_WALL_REPEATS);
        }
      }),
    );
  });
});

describe('fastest', () => {
  it('skips candidates that could not be timed and keeps the earlier of a tie', () => {
    expect(fastest([Infinity, 2, 1, 1])).toBe(2);
    expect(fastest([NaN, Infinity])).toBe(-1);
    expect(fastest([])).toBe(-1);
  });
});
