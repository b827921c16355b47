/**
 * How the autotuner times a candidate, decided from what it measured: pure functions, so the
 * decisions are tested with made-up timings and no GPU.
 *
 * GPU timestamps are the best clock when they resolve the kernel: a submit's round trip can exceed
 * a small kernel's whole cost. But some implementations quantise them (Dawn on NVIDIA reports
 * steps of about 65 µs; browsers round them), and a 10 µs kernel then measures 0 or one step, so
 * every small candidate ties. Then the candidate is timed by wall clock over enough launches in one
 * submit that the submit's own cost and the clock's resolution vanish in the total.
 */

/** Below this, a common step of the samples is noise of a fine clock, not a quantum. */
export const MIN_QUANTUM_MS = 0.001;

/** Timestamps must span at least this many quanta for a ranking to be trusted (≤ 5% error). */
export const QUANTA_PER_SAMPLE = 20;

/** Wall-clock timing repeats the launches until one submit takes at least this long. */
export const WALL_TARGET_MS = 4;

/** At most this many repeats of a candidate in one submit (a near-empty kernel would need millions). */
export const MAX_WALL_REPEATS = 4096;

/**
 * How far a sample may sit from a multiple of the step and still count as on it: a quantised clock
 * lands on its grid up to the nanosecond rounding of its ticks.
 */
const gridTolerance = (step: number) => Math.max(1e-6, step * 0.002);

/**
 * The step the samples (durations in ms) are quantised to, or 0 when they show none. A zero sample
 * means the clock could not see the work at all: the step is then at least the largest sample
 * (infinite when every sample is zero). Samples that are all equal count as quantised, their value
 * being the step, since a real clock jitters between runs. Otherwise the step is an approximate
 * greatest common divisor of the samples, accepted when it is at least MIN_QUANTUM_MS, every
 * sample lies on one of its multiples, and the samples fall on at least two different multiples
 * (one cluster of jittering samples shows no grid).
 */
export function timestampQuantum(samplesMs: readonly number[]): number {
  const valid = samplesMs.filter((s) => Number.isFinite(s) && s >= 0);
  if (valid.length === 0) return 0;
  const nonZero = valid.filter((s) => s > 0);
  if (nonZero.length < valid.length) return nonZero.length ? Math.max(...nonZero) : Infinity;
  if (nonZero.length > 1 && nonZero.every((s) => s === nonZero[0])) return nonZero[0];
  let step = Math.min(...nonZero);
  for (const s of nonZero) step = approxGcd(step, s, gridTolerance(step));
  if (step < MIN_QUANTUM_MS) return 0;
  const multiples = new Set<number>();
  for (const s of nonZero) {
    const k = Math.round(s / step);
    if (k < 1 || Math.abs(s - k * step) > gridTolerance(step)) return 0;
    multiples.add(k);
  }
  return multiples.size >= 2 ? step : 0;
}

/** Euclid's algorithm with a tolerance: remainders within `tolerance` of 0 (or of b) count as 0. */
function approxGcd(a: number, b: number, tolerance: number): number {
  let [x, y] = a >= b ? [a, b] : [b, a];
  while (y > tolerance) {
    let r = x % y;
    if (y - r <= tolerance) r = 0;
    [x, y] = [y, r];
  }
  return x;
}

export type TimingMethod = { kind: 'timestamps'; ms: number } | { kind: 'wall-clock'; quantumMs: number };

/**
 * Whether the timestamp samples of one candidate rank it: yes when they are not quantised, or
 * span at least QUANTA_PER_SAMPLE steps (median); else the candidate must be timed by wall clock.
 */
export function timingMethod(samplesMs: readonly number[]): TimingMethod {
  const quantum = timestampQuantum(samplesMs);
  const ms = median(samplesMs);
  if (quantum === 0 && ms > 0) return { kind: 'timestamps', ms };
  if (Number.isFinite(quantum) && quantum > 0 && ms >= QUANTA_PER_SAMPLE * quantum) return { kind: 'timestamps', ms };
  return { kind: 'wall-clock', quantumMs: quantum };
}

/**
 * The next repeat count for wall-clock timing after a submit of `repeats` launches took `wallMs`,
 * or undefined once that submit was long enough (WALL_TARGET_MS) or the count is at its cap. The
 * estimate per launch includes the submit's fixed cost, so it only grows the count by what the
 * target needs, at least doubling, never past MAX_WALL_REPEATS.
 */
export function nextRepeatCount(repeats: number, wallMs: number, targetMs = WALL_TARGET_MS): number | undefined {
  if (wallMs >= targetMs || repeats >= MAX_WALL_REPEATS) return undefined;
  const perLaunch = wallMs / repeats;
  const needed = perLaunch > 0 ? Math.ceil(targetMs / perLaunch) : MAX_WALL_REPEATS;
  return Math.min(MAX_WALL_REPEATS, Math.max(2 * repeats, needed));
}

/** Index of the fastest finite time, or -1 when no candidate could be timed. Ties keep the earlier. */
export function fastest(times: readonly number[]): number {
  let best = -1;
  for (let i = 0; i < times.length; i++) {
    if (Number.isFinite(times[i]) && (best < 0 || times[i] < times[best])) best = i;
  }
  return best;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
