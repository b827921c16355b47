import { fixedLatents, loadIdxUrl } from '../src/index.js';
import { startTraining, type GanJobConfig, type GanJobProgress, type TrainingRun } from '../src/worker/index.js';
import { LineChart } from './lib/chart.js';
import { grayImage, pixelCanvas } from './lib/images.js';
import { $, boot, el, field, fmt, inOrder, showFailure, yieldToPage } from './lib/shell.js';
import { download } from './lib/storage.js';
import type { GanModelConfig } from './lib/train_worker.js';

const LATENT = 64;
const SAMPLES = 36;
const STRIP = 10;

/** What the end-to-end tests read. */
interface GanHooks {
  state: 'building' | 'idle' | 'running' | 'paused' | 'done';
  iterations: number;
  history: { iteration: number; dLoss: number; gLoss: number }[];
  /** Mean absolute change of the sample grid from its first rendering (before any training). */
  sampleChange: number;
  /** Standard deviation of the pixels of that first rendering. */
  initialSpread: number;
  sampleVersion: number;
  strip: number;
}

function sizes(text: string): number[] {
  return text.split(',').map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0);
}

/** Spherical interpolation: Gaussian latents keep their typical length along the path. */
function slerp(a: Float32Array, b: Float32Array, t: number): Float32Array {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  const omega = Math.acos(Math.max(-1, Math.min(1, dot / Math.sqrt(na * nb))));
  const s = Math.sin(omega);
  const wa = s < 1e-6 ? 1 - t : Math.sin((1 - t) * omega) / s;
  const wb = s < 1e-6 ? t : Math.sin(t * omega) / s;
  return a.map((v, i) => wa * v + wb * b[i]);
}

/**
 * The GAN page. Training runs in a Web Worker (`ganJob` there): this page holds no GPU device; it
 * sends commands and draws the losses and samples the worker posts.
 */
async function ganDemo(worker: Worker): Promise<void> {
  const params = new URLSearchParams(location.search);
  const num = (name: string, fallback: number) => (params.has(name) ? Number(params.get(name)) : fallback);
  const hooks: GanHooks = { state: 'building', iterations: 0, history: [], sampleChange: 0, initialSpread: 0, sampleVersion: 0, strip: 0 };
  (window as { __demo?: unknown }).__demo = hooks;

  const model = el('select', { id: 'model' }, el('option', { value: 'mlp' }, 'MLP GAN'), el('option', { value: 'dcgan' }, 'DCGAN (ConvTranspose2d + BatchNorm)'));
  model.value = params.get('model') === 'dcgan' ? 'dcgan' : 'mlp';
  const defaults = { mlp: ['128, 256', '256, 128'], dcgan: ['32, 16', '16, 32'] };
  const gHidden = el('input', { id: 'g-hidden', value: params.get('g') ?? defaults[model.value as 'mlp'][0] });
  const dHidden = el('input', { id: 'd-hidden', value: params.get('d') ?? defaults[model.value as 'mlp'][1] });
  const gHint = el('small', {});
  const dHint = el('small', {});
  const hints = () => {
    const conv = model.value === 'dcgan';
    gHint.textContent = conv ? `channels: z(${LATENT}) → [c0, 7, 7] → [c1, 14, 14] → 28×28` : `hidden widths: z(${LATENT}) → … → 784, tanh`;
    dHint.textContent = conv ? 'channels: 28×28 → [d0, 14, 14] → [d1, 7, 7] → 1' : 'hidden widths: 784 → … → 1 logit';
  };
  hints();
  model.addEventListener('change', () => {
    const [g, d] = defaults[model.value as 'mlp'];
    gHidden.value = g;
    dHidden.value = d;
    hints();
    status.textContent = 'Press Reset to build the chosen model.';
  });
  const lr = el('input', { id: 'lr', type: 'number', step: 'any', value: String(num('lr', 0.0002)) });
  const batch = el('input', { id: 'batch', type: 'number', min: '8', step: '8', value: String(num('batch', 64)) });
  const trainCount = el('input', { id: 'train-count', type: 'number', min: '500', max: '60000', step: '500', value: String(num('train', 20000)) });
  const chunk = el('input', { id: 'chunk', type: 'number', min: '1', value: String(num('chunk', 20)) });
  const chunkField = field('Iterations per update', chunk, 'applies on Reset');
  const maxIter = el('input', { id: 'max-iterations', type: 'number', min: '0', value: String(num('maxIterations', 0)) });
  const startBtn = el('button', { id: 'start', type: 'button', class: 'primary' }, 'Start');
  const resetBtn = el('button', { id: 'reset', type: 'button' }, 'Reset');
  const saveBtn = el('button', { id: 'save-generator', type: 'button' }, 'Download generator (.safetensors)');
  const newPair = el('button', { id: 'new-pair', type: 'button' }, 'New endpoints');
  const status = el('p', { id: 'train-status', class: 'note' }, 'Loading MNIST…');
  const stats = el('dl', { id: 'stats', class: 'stats' });
  const cells = new Map<string, HTMLElement>();
  for (const name of ['iteration', 'D loss', 'G loss', 'iterations/s']) {
    const dd = el('dd', { 'data-stat': name }, '–');
    cells.set(name, dd);
    stats.append(el('dt', {}, name), dd);
  }
  const stat = (name: string, v: string) => (cells.get(name)!.textContent = v);
  const lossCanvas = el('canvas', { id: 'loss-chart', class: 'chart' });
  const grid = el('div', { id: 'sample-grid', class: 'digit-grid samples' });
  const strip = el('div', { id: 'interpolation', class: 'strip' });
  const samples = Array.from({ length: SAMPLES }, () => pixelCanvas());
  grid.append(...samples);
  const stripCells = Array.from({ length: STRIP }, () => pixelCanvas());
  strip.append(...stripCells);

  $('app').replaceChildren(
    el(
      'section',
      { class: 'card controls' },
      el('h2', {}, 'Training'),
      el(
        'div',
        { class: 'fields' },
        field('Model', model, 'applies on Reset'),
        el('label', { class: 'field' }, el('span', {}, 'Generator'), gHidden, gHint),
        el('label', { class: 'field' }, el('span', {}, 'Discriminator'), dHidden, dHint),
        field('Learning rate (Adam β₁ 0.5)', lr, 'applies live'),
        field('Batch size', batch),
        field('Training images', trainCount),
        chunkField,
        field('Stop after', maxIter, 'iterations (0: never)'),
      ),
      el('div', { class: 'buttons' }, startBtn, resetBtn, saveBtn),
      status,
      el('p', { class: 'note' }, 'Training runs in a Web Worker with its own GPU device: this page only sends commands and draws what the worker reports.'),
      stats,
    ),
    el(
      'div',
      { class: 'row' },
      el('section', { class: 'card' }, el('h2', {}, 'Samples'), el('p', { class: 'note' }, `The generator's images for ${SAMPLES} fixed latent vectors, redrawn as it trains.`), grid),
      el('section', { class: 'card' }, lossCanvas),
    ),
    el('section', { class: 'card' }, el('h2', {}, 'Latent interpolation'), el('p', { class: 'note' }, 'Images along a great-circle path between two latent vectors.'), strip, el('div', { class: 'buttons' }, newPair)),
  );
  const chart = new LineChart(lossCanvas, [{ name: 'D', color: '#2f6fde' }, { name: 'G', color: '#e0672b' }], { title: 'GAN losses' });

  const splits = await loadIdxUrl(new URL('./mnist/', location.href).href);
  const latents = fixedLatents(SAMPLES, LATENT, 7);
  let pairSeed = 11;
  let run: TrainingRun<GanJobProgress> | undefined;
  let initial: Float32Array | undefined;
  let resumeAfterHidden = false;
  // The worker's reports, drawn in the order they came (drawing one yields to the page).
  const draw = inOrder(showFailure);

  const setTrainState = (s: GanHooks['state']) => {
    hooks.state = s;
    document.body.dataset.train = s;
    startBtn.textContent = s === 'running' ? 'Pause' : s === 'paused' || s === 'done' ? 'Resume' : 'Start';
    startBtn.disabled = s === 'building';
  };

  function showSamples(out: Float32Array): void {
    if (!initial) {
      initial = out.slice();
      // How much the first samples differ from one another (a freshly initialised generator's
      // outputs vary with the latent; a constant grid would mean it ran on unset weights).
      let sum = 0;
      for (const v of out) sum += v;
      const mean = sum / out.length;
      let sq = 0;
      for (const v of out) sq += (v - mean) ** 2;
      hooks.initialSpread = Math.sqrt(sq / out.length);
    }
    let change = 0;
    for (let i = 0; i < out.length; i++) change += Math.abs(out[i] - initial[i]);
    hooks.sampleChange = change / out.length;
    hooks.sampleVersion++;
    for (let i = 0; i < SAMPLES; i++) grayImage(samples[i], out.subarray(i * 784, (i + 1) * 784), 28, 28, -1, 1);
    grid.dataset.version = String(hooks.sampleVersion);
  }

  async function showStrip(): Promise<void> {
    const r = run;
    if (!r) return;
    const ends = fixedLatents(2, LATENT, pairSeed);
    const a = ends.subarray(0, LATENT);
    const b = ends.subarray(LATENT);
    const z = new Float32Array(STRIP * LATENT);
    for (let i = 0; i < STRIP; i++) z.set(slerp(a, b, i / (STRIP - 1)), i * LATENT);
    const out = await r.request<Float32Array>('sample', { latents: z, count: STRIP });
    if (r !== run) return;
    for (let i = 0; i < STRIP; i++) grayImage(stripCells[i], out.subarray(i * 784, (i + 1) * 784), 28, 28, -1, 1);
    hooks.strip++;
    strip.dataset.version = String(hooks.strip);
  }

  async function showProgress(p: GanJobProgress): Promise<void> {
    hooks.iterations = p.iteration;
    hooks.history.push({ iteration: p.iteration, dLoss: p.dLoss, gLoss: p.gLoss });
    chart.add(0, p.iteration, p.dLoss);
    chart.add(1, p.iteration, p.gLoss);
    stat('iteration', String(p.iteration));
    stat('D loss', fmt(p.dLoss));
    stat('G loss', fmt(p.gLoss));
    stat('iterations/s', fmt(p.iterationsPerSec, 1));
    // The 36 samples in a task of their own: drawn with the rest, one report would be one long task.
    await yieldToPage();
    if (p.samples) showSamples(p.samples);
    void showStrip().catch(showFailure);
  }

  async function build(): Promise<void> {
    setTrainState('building');
    const old = run;
    run = undefined;
    await old?.stop();
    const count = Math.min(Number(trainCount.value), splits.train.count);
    // Copied, not a view: a view would clone all of MNIST into the worker.
    const images = { ...splits.train, images: splits.train.images.slice(0, count * 784), labels: splits.train.labels.slice(0, count), count };
    const networks: GanModelConfig = { kind: model.value === 'dcgan' ? 'dcgan' : 'mlp', g: sizes(gHidden.value), d: sizes(dHidden.value), latent: LATENT, lr: Number(lr.value), seed: num('seed', 1) };
    const config: GanJobConfig = { images, batchSize: Number(batch.value), chunk: Number(chunk.value), iterations: Number(maxIter.value), atLimit: 'pause', samples: latents, model: networks };
    const r = startTraining<GanJobProgress>(worker, { job: 'gan', config, paused: true, transfer: [images.images.buffer, images.labels.buffer] });
    run = r;
    r.onProgress = (p) => void draw(() => r === run && showProgress(p));
    // A pause the job chose itself: the iteration limit.
    r.onPaused = (reason) =>
      void draw(() => {
        if (r !== run || !reason) return;
        setTrainState('done');
        status.textContent = `Stopped after ${hooks.iterations} iterations; press Resume to go on.`;
      });
    void r.done.catch((e) => {
      if (r === run) showFailure(e);
    });
    hooks.iterations = 0;
    hooks.history = [];
    initial = undefined;
    chart.clear();
    await r.started;
    showSamples(await r.request<Float32Array>('sample', { latents, count: SAMPLES }));
    await showStrip();
    const counts = await r.request<{ generator: number; discriminator: number }>('parameters');
    status.textContent = `G ${counts.generator.toLocaleString('en')} and D ${counts.discriminator.toLocaleString('en')} parameters; ${count} training images. Press Start.`;
    setTrainState('idle');
  }

  async function start(): Promise<void> {
    if (!run || hooks.state === 'running' || hooks.state === 'building') return;
    setTrainState('running');
    status.textContent = 'Training…';
    await run.request('setIterations', Number(maxIter.value));
    await run.resume();
  }

  async function pause(): Promise<void> {
    if (!run) return;
    await run.pause();
    // Reports posted before the pause are drawn before the page says it paused.
    await draw(() => undefined);
    if (hooks.state === 'running') setTrainState('paused');
    status.textContent = `Paused at iteration ${hooks.iterations}.`;
  }

  // Start, pause and reset one after another: a pause sent while a start is still on its way would
  // otherwise reach the worker before the start's resume.
  const command = inOrder(showFailure);
  startBtn.addEventListener('click', () => void command(() => (hooks.state === 'running' ? pause() : start())));
  resetBtn.addEventListener('click', () => void command(build));
  lr.addEventListener('change', () => {
    const v = Number(lr.value);
    if (run && v > 0) void run.setLearningRate(v).catch(showFailure);
  });
  newPair.addEventListener('click', () => {
    pairSeed++;
    void showStrip().catch(showFailure);
  });
  saveBtn.addEventListener('click', async () => {
    if (run) download(await run.checkpoint(), `gan-generator-iter${hooks.iterations}.safetensors`);
  });
  document.addEventListener('visibilitychange', () => {
    if (document.hidden && hooks.state === 'running') {
      resumeAfterHidden = true;
      void command(pause);
    } else if (!document.hidden && resumeAfterHidden) {
      resumeAfterHidden = false;
      void command(start);
    }
  });

  // Directly, not through `command`: a failure here fails the page's boot.
  await build();
  if (params.get('autostart') === '1') await start();
}

void boot(ganDemo);
