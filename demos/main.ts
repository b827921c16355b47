import { createEngine, relu, tensor, WebGPUUnavailableError, type Engine, type EngineInfo } from '../src/index.js';

const INPUT = [-2, -0.5, 0, 0.25, 1.5, 3];

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

function setState(state: 'ready' | 'unavailable' | 'error'): void {
  document.body.dataset.state = state;
}

function addRow(list: HTMLElement, term: string, value: string): void {
  const dt = document.createElement('dt');
  dt.textContent = term;
  const dd = document.createElement('dd');
  dd.textContent = value;
  list.append(dt, dd);
}

function showAdapter(info: EngineInfo): void {
  const list = $('adapter-info');
  addRow(list, 'Vendor', info.vendor || '(not reported)');
  addRow(list, 'Architecture', info.architecture || '(not reported)');
  addRow(list, 'Description', info.description || '(not reported)');
  addRow(list, 'Kind', info.software ? 'software (CPU) adapter' : 'hardware GPU');
  const features = $('adapter-features');
  for (const f of info.features.length ? info.features : ['(none of the optional ones)']) {
    const li = document.createElement('li');
    li.textContent = f;
    features.append(li);
  }
  const limits = $('adapter-limits');
  for (const [name, value] of Object.entries(info.limits)) addRow(limits, name, value.toLocaleString('en'));
  $('adapter').hidden = false;
  $('status-text').textContent = info.software
    ? 'WebGPU works, on a software adapter: expect CPU speed, not GPU speed.'
    : 'WebGPU works, on your GPU.';
}

async function runKernel(engine: Engine): Promise<void> {
  const x = tensor(engine, INPUT, [INPUT.length]);
  const y = relu(x);
  try {
    const start = performance.now();
    const values = await y.read();
    const ms = performance.now() - start;
    $('kernel-input').textContent = INPUT.join(', ');
    const output = $('kernel-output');
    output.textContent = Array.from(values).join(', ');
    output.dataset.values = JSON.stringify(Array.from(values));
    $('kernel-time').textContent = `Compiled, dispatched and read back in ${ms.toFixed(1)} ms.`;
    $('kernel').hidden = false;
  } finally {
    x.dispose();
    y.dispose();
  }
}

function showUnavailable(reason: string): void {
  $('status-text').textContent = 'No WebGPU adapter.';
  $('help-reason').textContent = window.isSecureContext
    ? reason
    : `This page was opened from ${location.origin}, which is not a secure context, so the browser hides WebGPU. ` +
      'Open it from http://localhost or https:// instead.';
  $('help').hidden = false;
  setState('unavailable');
}

async function main(): Promise<void> {
  let engine: Engine | undefined;
  try {
    engine = await createEngine();
    showAdapter(engine.info);
    await runKernel(engine);
    setState('ready');
  } catch (e) {
    if (e instanceof WebGPUUnavailableError) return showUnavailable(e.message);
    $('status-text').textContent = 'WebGPU was found, but the demo failed.';
    $('failure-text').textContent = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    $('failure').hidden = false;
    setState('error');
    throw e;
  } finally {
    engine?.destroy();
  }
}

void main();
