import { loadIdxUrl, parseAugmentation, type Augmentation, type ImageDataset } from '../../src/index.js';
import { startTraining, type TrainingRun } from '../../src/worker/index.js';
import type { ChunkReport, ClassifierJobConfig, EvaluationReport } from './classifier_job.js';
import { ClassifierPanels } from './classifier_panels.js';
import type { ClassifierDemoConfig, ClassifierHooks } from './classifier_types.js';
import { checkpointPanel } from './checkpoint_panel.js';
import type { LiveRecovery } from './live_trainer.js';
import { $, el, field, fmt, inOrder, showFailure } from './shell.js';

export type { WeightView, ClassifierDemoConfig, ClassifierHooks } from './classifier_types.js';

const GRID = 30;

function select(id: string, options: [string, string][], value: string): HTMLSelectElement {
  const s = el('select', { id });
  for (const [v, text] of options) s.append(el('option', { value: v }, text));
  s.value = value;
  return s;
}

/** The first `n` samples, copied: a view of the whole set would clone all of it into the worker. */
function subset(d: ImageDataset, n: number): ImageDataset {
  const count = Math.min(n, d.count);
  const pixels = d.height * d.width;
  return { ...d, images: d.images.slice(0, count * pixels), labels: d.labels.slice(0, count), count };
}

/**
 * The page of a live MNIST classifier (the MLP and the CNN demos). Training runs in a Web Worker
 * (`classifierJob` there): this page holds no GPU device; it sends commands (start, pause, learning
 * rate, checkpoints) and draws the progress and evaluations the worker posts.
 */
export async function classifierDemo(worker: Worker, config: ClassifierDemoConfig): Promise<void> {
  const params = new URLSearchParams(location.search);
  const num = (name: string, fallback: number) => (params.has(name) ? Number(params.get(name)) : fallback);
  const d = config.defaults;
  const hooks: ClassifierHooks = { state: 'building', steps: 0, history: [], evals: [], grid: [], batch: [], lr: num('lr', d.lr), samplesPerSec: 0, stepMs: 0, longestTaskMs: 0, recoveries: [] };
  window.__demo = hooks;
  window.__loseDevice = () => void run?.request('loseDevice');
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

  const splits = await loadIdxUrl(new URL('./mnist/', location.href).href);
  const grid = splits.test.images.slice(0, GRID * 784);
  const views = config.views();
  const panels = new ClassifierPanels(hooks, grid, splits.test.labels, views);
  const sizes = () => arch.value.split(',').map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0);

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
      el('p', { class: 'note' }, 'Training runs in a Web Worker with its own GPU device: this page only sends commands and draws what the worker reports.'),
      stats,
    ),
    ...panels.elements,
    checkpointPanel(
      {
        current: () =>
          run && {
            steps: hooks.steps,
            checkpoint: (metadata) => run!.checkpoint(metadata),
            load: (bytes) => run!.load(bytes),
          },
        key: () => `${config.key}:${sizes().join(',')}`,
        fileName: (steps) => `${config.key}-${sizes().join('x')}-step${steps}`,
        afterLoad: async () => {
          const report = await run!.request<EvaluationReport>('evaluate');
          await draw(() => panels.showEvaluation(report, run!));
        },
      },
      showFailure,
    ),
  );

  let run: TrainingRun<ChunkReport> | undefined;
  let resumeAfterHidden = false;
  // The worker's reports, drawn in the order they came (an evaluation yields to the page as it draws).
  const draw = inOrder(showFailure);

  const setTrainState = (s: ClassifierHooks['state']) => {
    hooks.state = s;
    document.body.dataset.train = s;
    startBtn.textContent = s === 'running' ? 'Pause' : s === 'paused' || s === 'done' ? 'Resume' : 'Start';
    startBtn.disabled = s === 'building';
  };
  const settings = () => ({ maxSteps: Number(maxSteps.value), evalEvery: Number(evalEvery.value) });

  function showChunk(c: ChunkReport): void {
    hooks.history.push(...c.metrics);
    hooks.steps = c.steps;
    hooks.stepMs = c.stepMs;
    hooks.samplesPerSec = c.samplesPerSec;
    panels.showChunk(c);
    const recent = hooks.history.slice(-32);
    stat('epoch', String(c.epoch));
    stat('step', String(c.steps));
    stat('samples/s', Math.round(c.samplesPerSec).toLocaleString('en'));
    stat('step time', `${c.stepMs.toFixed(1)} ms`);
    stat('train loss', fmt(recent.reduce((a, m) => a + m.loss, 0) / recent.length));
    stat('train acc', fmt(recent.reduce((a, m) => a + m.accuracy, 0) / recent.length));
  }

  function showRecovery(r: LiveRecovery): void {
    hooks.recoveries.push(r.step);
    // The steps after the snapshot are trained again; their first metrics are dropped.
    hooks.history = hooks.history.filter((m) => m.step <= r.step);
    hooks.steps = r.step;
    status.textContent = `GPU lost — resumed from step ${r.step}.`;
    status.dataset.recovered = String(r.step);
  }

  async function build(): Promise<void> {
    setTrainState('building');
    const old = run;
    run = undefined;
    panels.run = undefined;
    await old?.stop();
    const train = subset(splits.train, Number(trainCount.value));
    const test = subset(splits.test, Number(testCount.value));
    Object.assign(hooks, { steps: 0, history: [], evals: [] });
    panels.clearCharts();
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
    panels.batchNote.textContent = aug
      ? `The first images of the batch the network just trained on, as it saw them: each given its own random transform (${augment.value.trim()}) by the batch-gather kernel on the GPU.`
      : 'The first images of the batch the network just trained on (no augmentation: set it above, then Reset).';
    hooks.lr = Number(lr.value);
    const job: ClassifierJobConfig = {
      sizes: sizes(),
      inputShape: config.inputShape,
      optimizer: optimizer.value as ClassifierJobConfig['optimizer'],
      lr: hooks.lr,
      batch: Number(batch.value),
      seed: num('seed', 1),
      augment: aug,
      train,
      test,
      grid,
      settings: settings(),
      weights: panels.weightNames,
    };
    const r = startTraining<ChunkReport>(worker, { job: config.key, config: job, paused: true, transfer: [train.images.buffer, train.labels.buffer, test.images.buffer, test.labels.buffer] });
    run = r;
    window.__run = r;
    panels.run = r;
    const first = new Promise<EvaluationReport>((resolve) => {
      r.onEvent = (name, data) =>
        void draw(async () => {
          if (r !== run) return;
          if (name === 'evaluation') {
            const report = data as EvaluationReport;
            stat('test loss', fmt(report.loss));
            stat('test acc', fmt(report.accuracy));
            await panels.showEvaluation(report, r);
            resolve(report);
          } else if (name === 'recovered') showRecovery(data as LiveRecovery);
        });
    });
    r.onProgress = (c) => void draw(() => r === run && showChunk(c));
    // A pause the job chose itself: the step limit.
    r.onPaused = (reason) =>
      void draw(() => {
        if (r !== run || !reason) return;
        setTrainState('done');
        status.textContent = reason;
      });
    void r.done.catch((e) => {
      if (r === run) showFailure(e);
    });
    const { parameters } = await Promise.race([first, r.done.then(() => Promise.reject(new Error('training ended before its first evaluation')))]);
    status.textContent = `${parameters.toLocaleString('en')} parameters; ${train.count} training and ${test.count} test samples. Press Start.`;
    setTrainState('idle');
  }

  async function start(): Promise<void> {
    if (!run || hooks.state === 'running' || hooks.state === 'building') return;
    setTrainState('running');
    status.textContent = 'Training…';
    await run.request('settings', settings());
    await run.resume();
  }

  async function pause(): Promise<void> {
    if (!run) return;
    await run.pause();
    // Reports posted before the pause are drawn before the page says it paused.
    await draw(() => undefined);
    if (hooks.state === 'running') setTrainState('paused');
    status.textContent = `Paused at step ${hooks.steps}.`;
  }

  // Start, pause and reset one after another: a pause sent while a start is still on its way would
  // otherwise reach the worker before the start's resume.
  const command = inOrder(showFailure);
  startBtn.addEventListener('click', () => void command(() => (hooks.state === 'running' ? pause() : start())));
  resetBtn.addEventListener('click', () => void command(build));
  for (const input of [maxSteps, evalEvery]) input.addEventListener('change', () => void run?.request('settings', settings()).catch(showFailure));
  lr.addEventListener('change', async () => {
    const v = Number(lr.value);
    if (!run || !(v > 0)) return;
    await run.setLearningRate(v).catch(showFailure);
    hooks.lr = v;
    status.textContent = `Learning rate set to ${v} (from the next step).`;
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
