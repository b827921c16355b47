import type { GpuContext } from './context.js';

// When the background autotuner runs: whether at all, how long it waits before a job, and how long
// an engine going away waits for it.

/** Background tuning by default, unless WEBGPU_DL_BACKGROUND_TUNE=0 in the environment (Node). */
export function backgroundTuningDefault(): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return env?.WEBGPU_DL_BACKGROUND_TUNE !== '0';
}

/** The first background job waits this long after the compile that queued it. */
export const BACKGROUND_DELAY_MS = 2000;

/**
 * How long `Autotuner.stop` waits for the round in progress by default. A timing's GPU work lasts
 * milliseconds on a GPU and well under a second on a software adapter; the bound is there so that
 * closing an engine never hangs on a wait that does not end.
 */
export const STOP_WAIT_MS = 3000;

/**
 * The default wait before a background job: BACKGROUND_DELAY_MS before the first (the first steps
 * run untouched), then until the GPU has finished what was submitted, then until a browser page is
 * idle. Node timers are unref'd so that a pending job never keeps a finished process alive.
 */
export async function defaultIdle(engine: GpuContext, first: boolean): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, first ? BACKGROUND_DELAY_MS : 0) as unknown as { unref?(): void };
    timer.unref?.();
  });
  await engine.device.queue.onSubmittedWorkDone().catch(() => {});
  const idle = (globalThis as { requestIdleCallback?: (cb: () => void, o?: { timeout: number }) => void }).requestIdleCallback;
  if (idle) await new Promise<void>((resolve) => idle(resolve, { timeout: 1000 }));
}
