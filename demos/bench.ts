import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { adapterReport } from '../bench/lib/side_by_side.js';
import { createEngine, type Engine } from '../src/gpu/engine.js';
import { WebGPUUnavailableError } from '../src/gpu/errors.js';
import { FULL, itemLabel, measureItem, QUICK } from './bench_run.js';
import { resultFromFragment, shareLink, type SharedResult, type SharedWorkload } from './bench_share.js';
import { $, el, setState, showFailure } from './lib/shell.js';

/** What the page publishes for tests and for the curious, as `window.__bench`. */
interface BenchHooks {
  result?: SharedResult;
  link?: string;
  /** 'shared' when the result came from the link rather than a run here. */
  source?: 'shared' | 'run';
}

const hooks: BenchHooks = {};
(window as unknown as { __bench: BenchHooks }).__bench = hooks;

let engine: Engine | undefined;

const number = (v: number | null, digits = 4) => (v === null ? 'not reached' : v.toLocaleString('en', { maximumSignificantDigits: digits }));

function addRow(w: SharedWorkload): void {
  const name = w.target === undefined ? w.id : `${w.id} (${w.target * 100}%)`;
  const row = el(
    'tr',
    { 'data-id': w.id },
    el('th', { scope: 'row' }, name),
    el('td', {}, w.unit),
    el('td', {}, number(w.ours)),
    el('td', {}, number(w.tfjs)),
    el('td', {}, w.ratio === null ? '–' : `${number(w.ratio, 3)}×`),
  );
  $('results').querySelector('tbody')!.append(row);
}

function describeAdapter(a: SharedResult['adapter']): string {
  const name = [a.vendor || 'unknown vendor', a.architecture, a.description].filter(Boolean).join(' · ');
  return `${name}${a.software ? ' (software adapter: CPU speed)' : ''}; TF.js ${a.tfjsVersion}${a.sameAdapter ? ' on the same adapter' : ' on another adapter'}; ${a.userAgent}`;
}

/** Shows a whole result (from a run or a link), with its JSON and its link. */
function showResult(result: SharedResult, source: 'shared' | 'run'): void {
  $('results').querySelector('tbody')!.replaceChildren();
  for (const w of result.workloads) addRow(w);
  $('results-title').textContent = `${source === 'shared' ? 'Shared result' : 'Your result'}: ${result.mode} mode, ${result.date}`;
  $('results-adapter').textContent = describeAdapter(result.adapter);
  $('results-card').hidden = false;
  const link = shareLink(result, location.href);
  $<HTMLInputElement>('share-link').value = link;
  $('result-json').textContent = JSON.stringify(result, null, 2);
  $('share').hidden = false;
  Object.assign(hooks, { result, link, source });
  document.body.dataset.bench = source === 'shared' ? 'shared' : 'done';
}

async function copy(text: string, button: HTMLButtonElement): Promise<void> {
  const label = button.textContent;
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = 'Copied';
  } catch {
    button.textContent = 'Select and copy it by hand';
  }
  setTimeout(() => (button.textContent = label), 2000);
}

async function run(): Promise<void> {
  if (!engine) return;
  const mode = $<HTMLInputElement>('quick').checked ? QUICK : FULL;
  const button = $<HTMLButtonElement>('run');
  button.disabled = true;
  document.body.dataset.bench = 'running';
  $('share').hidden = true;
  $('results').querySelector('tbody')!.replaceChildren();
  $('results-title').textContent = `Your result: ${mode.name} mode (running)`;
  const adapter = adapterReport(engine, tf);
  $('results-adapter').textContent = describeAdapter(adapter);
  $('results-card').hidden = false;
  const workloads: SharedWorkload[] = [];
  try {
    for (const [i, item] of mode.items.entries()) {
      $('progress').textContent = `Measuring ${itemLabel(item)} (${i + 1} of ${mode.items.length})…`;
      const w = await measureItem(engine, tf, item, mode);
      workloads.push(w);
      addRow(w);
    }
    const { vendor, architecture, description, software, sameAdapter, userAgent, tfjsVersion } = adapter;
    const result: SharedResult = {
      adapter: { vendor, architecture, description, software, sameAdapter, userAgent, tfjsVersion },
      mode: mode.name,
      date: new Date().toISOString(),
      workloads,
    };
    showResult(result, 'run');
    // The address bar now holds the link too, so a bookmark or reload keeps the result.
    history.replaceState(null, '', hooks.link);
    $('progress').textContent = 'Done.';
  } catch (e) {
    document.body.dataset.bench = 'failed';
    $('progress').textContent = 'The benchmark failed.';
    showFailure(e);
  } finally {
    button.disabled = false;
  }
}

async function start(): Promise<void> {
  $<HTMLInputElement>('quick').checked = new URLSearchParams(location.search).get('quick') === '1';
  $('run').addEventListener('click', () => void run());
  $('copy-link').addEventListener('click', (e) => void copy(hooks.link ?? '', e.currentTarget as HTMLButtonElement));
  $('copy-json').addEventListener('click', (e) => void copy(JSON.stringify(hooks.result ?? {}, null, 2), e.currentTarget as HTMLButtonElement));
  let shared: SharedResult | undefined;
  try {
    shared = resultFromFragment(location.hash);
  } catch (e) {
    showFailure(e);
  }
  if (shared) {
    // A shared result needs no GPU to be shown: the page is ready before the engines start.
    showResult(shared, 'shared');
    setState('ready');
  }
  try {
    // TF.js asks for a high-performance adapter; ask for the same so both run on one adapter.
    engine = await createEngine({ powerPreference: 'high-performance' });
    await tf.setBackend('webgpu');
    await tf.ready();
    if (tf.getBackend() !== 'webgpu') throw new Error(`TF.js fell back to its '${tf.getBackend()}' backend: it found no WebGPU adapter`);
  } catch (e) {
    if (e instanceof WebGPUUnavailableError) {
      $('adapter-summary').textContent = `No WebGPU adapter: ${e.message}`;
      setState('unavailable');
      return;
    }
    throw e;
  }
  const info = engine.info;
  $('adapter-summary').textContent = `${[info.vendor || 'unknown vendor', info.architecture, info.description].filter(Boolean).join(' · ')} — ${info.software ? 'software (CPU) adapter: expect CPU speed' : 'hardware GPU'}`;
  $<HTMLButtonElement>('run').disabled = false;
  if (document.body.dataset.state === 'loading') setState('ready');
}

start().catch((e) => {
  showFailure(e);
});
