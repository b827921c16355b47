import { Adam, AdamW, SGD, loadIdxUrl, parseAugmentation, type Augmentation, type Engine, type Evaluation, type ImageDataset, type Optimizer } from '../../src/index.js';
import { LineChart } from './chart.js';
import { DrawPad } from './drawpad.js';
import { grayImage, pixelCanvas } from './images.js';
import { LiveTrainer } from './live_trainer.js';
import type { ClassifierDemoConfig, ClassifierHooks } from './classifier_types.js';
import { checkpointPanel } from './checkpoint_panel.js';
import { drawConfusion } from './confusion.js';
import { $, el, field, fmt, nextFrame, showFailure } from './shell.js';

export type { WeightView, ClassifierDemoConfig, ClassifierHooks } from './classifier_types.js';

const GRID = 30;
const CHUNK = 8;
const BATCH_SHOWN = 8;

function select(id: string, options: [string, string][], value: string): HTMLSelectElement {
  const s = el('select', { id });
  for (const [v, text] of options) s.append(el('option', { value: v }, text));
  s.value = value;
  return s;
}

function subset(d: ImageDataset, n: number): ImageDataset {
  const count = Math.min(n, d.count);
  const pixels = d.height * d.width;
  return { ...d, images: d.images.subarray(0, count * pixels), labels: d.labels.subarray(0, count), count };
}

function makeOptimizer(kind: string, lr: number): Optimizer {
  if (kind === 'sgd') return new SGD({ lr, momentum: 0.9 });
  if (kind === 'adamw') return new AdamW({ lr, weightDecay: 0.01 });
  return new Adam({ lr });
}

function topK(probs: ArrayLike<number>, k: number): { digit: number; p: number }[] {
  return Array.from(probs, (p, digit) => ({ digit, p }))
    .sort((a, b) => b.p - a.p)
    .slice(0, k);
}

/**
 * The page of a live MNIST classifier (the MLP and the CNN demos): controls, live charts, a grid of
 * test predictions, the confusion matrix, a draw-a-digit pad and weight views, all driven by
 * `LiveTrainer` a few steps at a time so the page stays responsive.
 */
export async function classifierDemo(engine: Engine, config: ClassifierDemoConfig): Promise<void> {
  const params = new URLSearchParams(location.search);
  const num = (name: string, fallback: number) => (params.has(name) ? Number(params.get(name)) : fallback);
  const d = config.defaults;
  const hooks: ClassifierHooks = { state: 'building', steps: 0, history: [], evals: [], grid: [], batch: [], lr: num('lr', d.lr), samplesPerSec: 0, stepMs: 0, longestTaskMs: 0, recoveries: [] };
  window.__demo = hooks;
  window.__loseDevice = () => engine.device.destroy();
  if (PerformanceObserver.supportedEntryTypes?.includes('longtask')) {
    new PerformanceObserver((list) => {
      if (hooks.state !== 'running') return;
      for (const e of list.getEntries()) hooks.longestTaskMs = Math.max(hooks.longestTaskMs, e.duration);
    }).observe({ type: 'longtask' });
  }

  // Controls
  const arch = el('input', { id: 'arch', value: params.get('arch') ?? config.arch.default, size: '10' });
  const lr = el('input', { id: 'lr', type: 'number', step: 'any', min: '0', value: String(num('lr', d.lr)) });
  const batch = select('batch', ['16', '32', '64', '128', '256'].map((b) => [b, b]), String(num('batch', d.batch)));
  if (!batch.value) batch.append(el('option', { value: String(num('batch', d.batch)) }, String(num('batch', d.batch))));
  batch.value = String(num('batch', d.batch));
  const optimizer = select('optimizer', [['adam', 'Adam'], ['adamw', 'AdamW'], ['sgd', 'SGD + momentum 0.9']], params.get('opt') ?? d.optimizer);
  const trainCount = el('input', { id: 'train-count', type: 'number', min: '100', max: '60000', step: '100', value: String(num('train', d.train)) });
  const testCount = el('input', { id: 'test-count', type: 'number', min: '100', max: '10000', step: '100', value: String(num('test', d.test)) });
  const evalEvery = el('input', { id: 'eval-every', type: 'number', min: '8', step: '8', value: String(num('evalEvery', d.evalEvery)) });
  const augment = el('input', { id: 'augment', value: params.get('augment') ?? '', placeholder: 'shift=2,rotate=10,scale=0.1', size: '16' });
  const maxSteps = el('input', { id: 'max-steps', type: 'number', min: '0', step: '8', value: String(num('maxSteps', 0)) });
  const startBtn = el('button', { id: 'start', type: 'button', class: 'primary' }, 'Start');
  const resetBtn = el('button', { id: 'reset', type: 'button' }, 'Reset');
  const status = el('p', { id: 'train-status', class: 'note' }, 'Loading MNIST…');
  const stats = el('dl', { id: 'stats', class: 'stats' });
  const statCells = new Map<string, HTMLElement>();
  for (const name of ['epoch', 'step', 'samples/s', 'step time', 'train loss', 'train acc', 'test loss', 'test acc']) {
    const dd = el('dd', { 'data-stat': name }, '–');
    statCells.set(name, dd);
    stats.append(el('dt', {}, name), dd);
  }
  const stat = (name: string, v: string) => (statCells.get(name)!.textContent = v);

  const lossCanvas = el('canvas', { id: 'loss-chart', class: 'chart' });
  const accCanvas = el('canvas', { id: 'acc-chart', class: 'chart' });
  const grid = el('div', { id: 'prediction-grid', class: 'digit-grid' });
  const batchStrip = el('div', { id: 'batch-strip', class: 'digit-grid' });
  for (let i = 0; i < BATCH_SHOWN; i++) batchStrip.append(pixelCanvas(`training image ${i + 1} of the last batch`));
  const batchNote = el('p', { class: 'note' });
  const confusion = el('table', { id: 'confusion', class: 'confusion' });
  const pad = el('canvas', { id: 'draw-pad', class: 'draw-pad' });
  const padPreview = pixelCanvas('what the network sees (28×28)');
  padPreview.id = 'draw-preview';
  const top3 = el('ol', { id: 'draw-top3', class: 'top3' });
  const clearBtn = el('button', { id: 'draw-clear', type: 'button' }, 'Clear');
  const views = config.views();

  $('app').replaceChildren(
    el(
      'section',
      { class: 'card controls' },
      el('h2', {}, 'Training'),
      el(
        'div',
        { class: 'fields' },
        field(config.arch.label, arch, config.arch.hint),
        field('Optimizer', optimizer),
        field('Learning rate', lr, 'applies live'),
        field('Batch size', batch),
        field('Training samples', trainCount),
        field('Test samples', testCount),
        field('Evaluate every', evalEvery, 'steps'),
        field('Augmentation', augment, 'empty: none; on the GPU, applies on Reset'),
        field('Stop after', maxSteps, 'steps (0: never)'),
      ),
      el('div', { class: 'buttons' }, startBtn, resetBtn),
      status,
      stats,
    ),
    el('section', { class: 'card charts' }, lossCanvas, accCanvas),
    el('section', { class: 'card' }, el('h2', {}, 'Last training batch'), batchNote, batchStrip),
    el('section', { class: 'card' }, el('h2', {}, 'Test predictions'), el('p', { class: 'note' }, 'Predicted digit and confidence; wrong ones in red.'), grid),
    el(
      'div',
      { class: 'row' },
      el('section', { class: 'card' }, el('h2', {}, 'Confusion matrix'), el('p', { class: 'note' }, 'Rows: true digit; columns: predicted.'), confusion),
      el(
        'section',
        { class: 'card draw' },
        el('h2', {}, 'Draw a digit'),
        el('div', { class: 'draw-row' }, pad, el('div', {}, padPreview, top3, clearBtn)),
      ),
    ),
    ...views.map((v) => v.element),
    checkpointPanel(
      {
        current: () => live && { trainer: live.trainer, steps: live.steps },
        key: () => `${config.key}:${sizes().join(',')}`,
        fileName: (steps) => `${config.key}-${sizes().join('x')}-step${steps}`,
        beforeLoad: async () => {
          if (busyEval) await busyEval;
        },
        afterLoad: () => evaluate(),
      },
      showFailure,
    ),
  );

  const lossChart = new LineChart(lossCanvas, [{ name: 'train', color: '#2f6fde' }, { name: 'test', color: '#e0672b', dots: true }], { title: 'Loss' });
  const accChart = new LineChart(accCanvas, [{ name: 'train', color: '#2f6fde' }, { name: 'test', color: '#e0672b', dots: true }], { title: 'Accuracy', yMin: 0, yMax: 1 });

  const splits = await loadIdxUrl(new URL('./mnist/', location.href).href);
  let train = subset(splits.train, Number(trainCount.value));
  let test = subset(splits.test, Number(testCount.value));
  const gridImages = splits.test.images.subarray(0, GRID * 784);
  const gridCells: HTMLElement[] = [];
  for (let i = 0; i < GRID; i++) {
    const c = pixelCanvas();
    grayImage(c, gridImages.subarray(i * 784, (i + 1) * 784), 28, 28);
    const cell = el('figure', { class: 'digit' }, c, el('figcaption', {}, '?'));
    gridCells.push(cell);
    grid.append(cell);
  }

  let live: LiveTrainer | undefined;
  let running = false;
  let loop: Promise<void> | undefined;
  let resumeAfterHidden = false;
  let predicting = false;
  let predictAgain = false;
  let lastEval = 0;
  let busyEval: Promise<void> | undefined;

  const setTrainState = (s: ClassifierHooks['state']) => {
    hooks.state = s;
    document.body.dataset.train = s;
    startBtn.textContent = s === 'running' ? 'Pause' : s === 'paused' || s === 'done' ? 'Resume' : 'Start';
    startBtn.disabled = s === 'building';
  };

  const sizes = () => arch.value.split(',').map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0);

  async function build(): Promise<void> {
    setTrainState('building');
    live?.dispose();
    live = undefined;
    train = subset(splits.train, Number(trainCount.value));
    test = subset(splits.test, Number(testCount.value));
    hooks.steps = 0;
    hooks.history = [];
    hooks.evals = [];
    lastEval = 0;
    lossChart.clear();
    accChart.clear();
    status.textContent = 'Compiling the training step…';
    let aug: Augmentation | undefined;
    try {
      aug = augment.value.trim() ? parseAugmentation(augment.value.trim()) : undefined;
      augment.classList.remove('invalid');
    } catch (e) {
      augment.classList.add('invalid');
      setTrainState('idle');
      startBtn.disabled = true;
      status.textContent = `${(e as Error).message}. Fix the augmentation field and press Reset.`;
      return;
    }
    hooks.augment = aug;
    batchNote.textContent = aug
      ? `The first images of the batch the network just trained on, as it saw them: each given its own random transform (${augment.value.trim()}) by the batch-gather kernel on the GPU.`
      : 'The first images of the batch the network just trained on (no augmentation: set it above, then Reset).';
    const opt = makeOptimizer(optimizer.value, Number(lr.value));
    hooks.lr = opt.lr;
    live = await LiveTrainer.create(engine, { model: config.buildModel(sizes()), inputShape: config.inputShape, optimizer: opt, batch: Number(batch.value), seed: num('seed', 1), augment: aug }, train);
    live.onRecover = (r) => {
      hooks.recoveries.push(r.step);
      // The steps after the snapshot are trained again; their first metrics are dropped.
      hooks.history = hooks.history.filter((m) => m.step <= r.step);
      hooks.steps = r.step;
      status.textContent = `GPU lost — resumed from step ${r.step}.`;
      status.dataset.recovered = String(r.step);
    };
    status.textContent = `${live.trainer.store.count.toLocaleString('en')} parameters; ${train.count} training and ${test.count} test samples. Press Start.`;
    await evaluate();
    setTrainState('idle');
  }

  async function evaluate(): Promise<void> {
    const l = live!;
    const e: Evaluation = await l.trainer.evaluate(test);
    hooks.evals.push({ step: l.steps, loss: e.loss, accuracy: e.accuracy });
    lastEval = l.steps;
    if (l.steps > 0) {
      lossChart.add(1, l.steps, e.loss);
      accChart.add(1, l.steps, e.accuracy);
    }
    stat('test loss', fmt(e.loss));
    stat('test acc', fmt(e.accuracy));
    drawConfusion(confusion, e.confusion);
    const probs = await l.trainer.predict(gridImages, GRID);
    hooks.grid = [];
    for (let i = 0; i < GRID; i++) {
      const [best] = topK(probs.subarray(i * 10, (i + 1) * 10), 1);
      const label = splits.test.labels[i];
      hooks.grid.push({ label, predicted: best.digit, confidence: best.p });
      const cell = gridCells[i];
      cell.classList.toggle('wrong', best.digit !== label);
      cell.querySelector('figcaption')!.textContent = `${best.digit} · ${(best.p * 100).toFixed(0)}%`;
      cell.title = `true ${label}, predicted ${best.digit} (${(best.p * 100).toFixed(1)}%)`;
    }
    grid.dataset.version = String(hooks.evals.length);
    if (l.steps > 0) await showBatch(l);
    for (const v of views) await v.update(l, test);
    void classifyDrawing();
  }

  async function showBatch(l: LiveTrainer): Promise<void> {
    const images = await l.lastBatch(BATCH_SHOWN);
    const n = images.length / 784;
    hooks.batch = [];
    for (let i = 0; i < n; i++) {
      const image = images.subarray(i * 784, (i + 1) * 784);
      hooks.batch.push(Array.from(image));
      grayImage(batchStrip.children[i] as HTMLCanvasElement, image, 28, 28, 0, 1);
    }
    batchStrip.dataset.version = String(l.steps);
  }

  async function classifyDrawing(): Promise<void> {
    if (!live || drawPad.empty) return;
    if (predicting) {
      predictAgain = true;
      return;
    }
    predicting = true;
    try {
      do {
        predictAgain = false;
        const pixels = drawPad.pixels();
        grayImage(padPreview, pixels, 28, 28);
        const probs = await live.trainer.predict(pixels, 1);
        const best = topK(probs, 3);
        hooks.drawn = { top: best };
        top3.replaceChildren(...best.map((b) => el('li', { 'data-digit': String(b.digit) }, el('b', {}, String(b.digit)), el('span', { class: 'bar', style: `width: ${(b.p * 100).toFixed(1)}%` }), `${(b.p * 100).toFixed(1)}%`)));
        top3.dataset.prediction = String(best[0].digit);
      } while (predictAgain);
    } finally {
      predicting = false;
    }
  }
  const drawPad = new DrawPad(pad, () => void classifyDrawing());
  clearBtn.addEventListener('click', () => {
    drawPad.clear();
    top3.replaceChildren();
    delete top3.dataset.prediction;
    hooks.drawn = undefined;
  });

  async function trainLoop(): Promise<void> {
    while (running && live) {
      const l = live;
      const limit = Number(maxSteps.value);
      const n = limit > 0 ? Math.min(CHUNK, limit - l.steps) : CHUNK;
      if (n <= 0) {
        running = false;
        setTrainState('done');
        status.textContent = `Stopped after ${l.steps} steps; press Resume to go on.`;
        break;
      }
      const t0 = performance.now();
      const metrics = await l.run(n);
      const ms = performance.now() - t0;
      if (l !== live) break;
      if (metrics.length === 0) {
        // The device was lost and training went back to a snapshot (see onRecover).
        await nextFrame();
        continue;
      }
      hooks.history.push(...metrics);
      hooks.steps = l.steps;
      hooks.stepMs = ms / n;
      hooks.samplesPerSec = (n * l.options.batch) / (ms / 1000);
      for (const m of metrics) {
        lossChart.add(0, m.step, m.loss);
        accChart.add(0, m.step, m.accuracy);
      }
      const recent = hooks.history.slice(-32);
      stat('epoch', String(l.epoch));
      stat('step', String(l.steps));
      stat('samples/s', Math.round(hooks.samplesPerSec).toLocaleString('en'));
      stat('step time', `${hooks.stepMs.toFixed(1)} ms`);
      stat('train loss', fmt(recent.reduce((a, m) => a + m.loss, 0) / recent.length));
      stat('train acc', fmt(recent.reduce((a, m) => a + m.accuracy, 0) / recent.length));
      const reachedLimit = limit > 0 && l.steps >= limit;
      if (l.steps - lastEval >= Number(evalEvery.value) || reachedLimit) {
        busyEval = evaluate();
        // A device lost during evaluation is recovered from by the next run.
        await busyEval.catch((e) => {
          if (!engine.lost) throw e;
        });
        busyEval = undefined;
      }
      // Let the page paint and handle input between chunks.
      await nextFrame();
    }
  }

  function start(): void {
    if (!live || running) return;
    running = true;
    setTrainState('running');
    status.textContent = 'Training…';
    loop = trainLoop().catch((e) => {
      running = false;
      showFailure(e);
      console.error(e);
    });
  }

  async function pause(): Promise<void> {
    running = false;
    await loop;
    if (hooks.state === 'running') setTrainState('paused');
    status.textContent = `Paused at step ${live?.steps ?? 0}.`;
  }

  startBtn.addEventListener('click', () => {
    if (hooks.state === 'running') void pause();
    else start();
  });
  resetBtn.addEventListener('click', async () => {
    running = false;
    await loop;
    await build().catch(showFailure);
  });
  lr.addEventListener('change', () => {
    const v = Number(lr.value);
    if (live && v > 0) {
      live.options.optimizer.lr = v;
      hooks.lr = v;
      status.textContent = `Learning rate set to ${v} (from the next step).`;
    }
  });
  document.addEventListener('visibilitychange', () => {
    if (document.hidden && hooks.state === 'running') {
      resumeAfterHidden = true;
      void pause();
    } else if (!document.hidden && resumeAfterHidden) {
      resumeAfterHidden = false;
      start();
    }
  });

  await build();
  if (params.get('autostart') === '1') start();
}
