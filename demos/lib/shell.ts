import type { EngineInfo } from '../../src/index.js';
import { TrainingWorkerError, workerReady } from '../../src/worker/index.js';

export const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`demo page has no #${id}`);
  return el as T;
};

/** Creates an element with attributes and children, for building the controls without a framework. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

export function setState(state: 'ready' | 'unavailable' | 'error'): void {
  document.body.dataset.state = state;
}

/** One line naming the adapter, so every demo says what it runs on. */
function showAdapter(info: EngineInfo): void {
  const line = $('adapter-summary');
  const parts = [info.vendor || 'unknown vendor', info.architecture, info.description].filter(Boolean);
  line.textContent = `${parts.join(' · ')} — ${info.software ? 'software (CPU) adapter: expect CPU speed' : 'hardware GPU'}`;
  line.dataset.vendor = info.vendor;
  line.dataset.software = String(info.software);
  if (!document.getElementById('tuner-note')) {
    line.after(
      el(
        'p',
        { id: 'tuner-note', class: 'note' },
        'Kernels start from a table of known-good settings for this kind of GPU, so training starts at once; the autotuner then times alternatives in the background and keeps the fastest in this browser (IndexedDB database "webgpu-dl") for the next visit.',
      ),
    );
  }
}

function showHelp(reason: string): void {
  const help = el(
    'section',
    { id: 'help', class: 'card warning' },
    el('h2', {}, 'WebGPU is not available here'),
    el('p', { id: 'help-reason' }, reason),
    el('p', {}, 'To run this demo, use Chrome or Edge 113 or newer from https:// or http://localhost; on Linux start Chrome with --enable-unsafe-webgpu (and --enable-features=Vulkan), or enable chrome://flags/#enable-unsafe-webgpu. chrome://gpu tells what the browser reports about WebGPU.'),
    el('p', {}, el('a', { href: './index.html' }, 'Back to the demo list')),
  );
  $('app').replaceChildren(help);
  $('adapter-summary').textContent = 'No WebGPU adapter.';
  setState('unavailable');
}

/** Shows an error on the page (not only in the console) and marks the page as failed. */
export function showFailure(e: unknown): void {
  // A worker's error already names its class there.
  const text = e instanceof TrainingWorkerError ? e.message : e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  const card = document.getElementById('failure') ?? el('section', { id: 'failure', class: 'card error' }, el('h2', {}, 'Something went wrong'), el('pre', { id: 'failure-text' }));
  $('app').prepend(card);
  card.querySelector('pre')!.textContent = text;
  setState('error');
}

/**
 * Starts a demo page: starts the training worker, which opens the GPU on its own thread (the page
 * never does), names the adapter it reports, then runs `start`; a missing adapter gives the help
 * card and any failure a visible error instead of a blank page.
 */
export async function boot(start: (worker: Worker) => Promise<void>): Promise<void> {
  const worker = new Worker(new URL('./train_worker.ts', import.meta.url), { type: 'module', name: 'webgpu-dl training' });
  let info: EngineInfo;
  try {
    info = await Promise.race([
      workerReady(worker),
      new Promise<never>((_, reject) => worker.addEventListener('error', (e) => reject(new Error(`the training worker failed to load: ${e.message || 'no detail'}`)), { once: true })),
    ]);
  } catch (e) {
    if (e instanceof TrainingWorkerError && e.workerName === 'WebGPUUnavailableError') {
      return showHelp(
        window.isSecureContext ? e.workerMessage : `This page was opened from ${location.origin}, which is not a secure context, so the browser hides WebGPU. Open it from http://localhost or https:// instead.`,
      );
    }
    showFailure(e);
    throw e;
  }
  showAdapter(info);
  try {
    await start(worker);
    setState('ready');
  } catch (e) {
    showFailure(e);
    throw e;
  }
}

/** The message of an error from the page or from the worker (without the worker's class prefix). */
export function messageOf(e: unknown): string {
  if (e instanceof TrainingWorkerError) return e.workerMessage;
  return e instanceof Error ? e.message : String(e);
}

/** Resolves on the next animation frame, or soon when the tab is hidden (no frames then). */
export function nextFrame(): Promise<void> {
  return new Promise((r) => {
    if (document.hidden) setTimeout(r, 0);
    else requestAnimationFrame(() => r());
  });
}

/**
 * Lets the page handle input and paint before going on: drawing a whole evaluation in one task
 * would be one long task (the worker's reports arrive as single messages).
 */
export function yieldToPage(): Promise<void> {
  const scheduler = (globalThis as { scheduler?: { yield?: () => Promise<void> } }).scheduler;
  return scheduler?.yield ? scheduler.yield() : new Promise((r) => setTimeout(r, 0));
}

/**
 * Runs handlers one after another, each after the previous one's promise settles: reports from
 * the worker are drawn in the order they came even when drawing one yields to the page.
 */
export function inOrder(onError: (e: unknown) => void): (handler: () => unknown) => Promise<void> {
  let queue = Promise.resolve();
  return (handler) => (queue = queue.then(handler).then(() => undefined, onError));
}

/** Formats a number for the stats line. */
export function fmt(v: number, digits = 3): string {
  return Number.isFinite(v) ? v.toFixed(digits) : '–';
}

/** A labelled form control with an optional hint under it. */
export function field(label: string, input: HTMLElement, hint = ''): HTMLElement {
  return el('label', { class: 'field' }, el('span', {}, label), input, ...(hint ? [el('small', {}, hint)] : []));
}
