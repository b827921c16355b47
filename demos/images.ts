import { parseAugmentation, type Augmentation, type ImageDataset } from '../src/index.js';
import { startTraining, type TrainingRun } from '../src/worker/index.js';
import { LineChart } from './lib/chart.js';
import { checkpointPanel } from './lib/checkpoint_panel.js';
import { builtinColorMnist, cifarArchive, droppedFiles, firstImages, imageFolders, withStatistics, type LoadedImages, type PathedFile } from './lib/images_data.js';
import type { ImagesChunk, ImagesEvaluation, ImagesJobConfig } from './lib/images_job.js';
import { bestClasses, drawNamedConfusion, rgbImage } from './lib/images_panels.js';
import { pixelCanvas } from './lib/images.js';
import { $, boot, el, field, fmt, inOrder, messageOf, showFailure } from './lib/shell.js';

/** What the end-to-end tests read, instead of scraping canvases. */
interface ImagesHooks {
  state: 'building' | 'idle' | 'running' | 'paused' | 'done';
  dataset: string;
  classNames: string[];
  steps: number;
  history: { step: number; loss: number; accuracy: number }[];
  evals: { step: number; loss: number; accuracy: number; confusion: number[][] }[];
  grid: { label: number; predicted: number; confidence: number }[];
}

const GRID = 24;
const BYTES = 3 * 32 * 32;

void boot(async (worker) => {
  const params = new URLSearchParams(location.search);
  const num = (name: string, fallback: number) => (params.has(name) ? Number(params.get(name)) : fallback);
  const hooks: ImagesHooks = { state: 'building', dataset: '', classNames: [], steps: 0, history: [], evals: [], grid: [] };
  (window as unknown as { __demo: ImagesHooks }).__demo = hooks;

  const input = (id: string, value: number) => el('input', { id, type: 'number', step: 'any', min: '0', value: String(value) });
  const depth = el('select', { id: 'depth' }, ...[8, 14, 20, 32, 56].map((d) => el('option', { value: String(d) }, `ResNet-${d}`)));
  // ResNet-8 of width 8 trains at a few steps a second on a software adapter (CPU); a GPU takes the paper's ResNet-20.
  const software = document.getElementById('adapter-summary')?.dataset.software !== 'false';
  depth.value = String(num('depth', software ? 8 : 20));
  const width = input('width', num('width', software ? 8 : 16));
  const optimizer = el('select', { id: 'optimizer' }, el('option', { value: 'sgd' }, 'SGD, Nesterov 0.9, wd 5e-4'), el('option', { value: 'adam' }, 'Adam'));
  optimizer.value = params.get('opt') ?? 'adam';
  // Adam shows progress within a minute on a software adapter; the CLI's recipe is SGD at lr 0.1 over many epochs.
  const lr = input('lr', num('lr', 0.005));
  const batch = input('batch', num('batch', 32));
  const trainCount = input('train-count', num('train', software ? 3000 : 20000));
  const testCount = input('test-count', num('test', 500));
  const evalEvery = input('eval-every', num('evalEvery', 100));
  const maxSteps = input('max-steps', num('maxSteps', 0));
  const augment = el('input', { id: 'augment', value: params.get('augment') ?? 'crop=4,flip=1', size: '14' });
  const startBtn = el('button', { id: 'start', type: 'button', class: 'primary' }, 'Start');
  const resetBtn = el('button', { id: 'reset', type: 'button' }, 'Reset');
  const status = el('p', { id: 'train-status', class: 'note' }, 'Making the built-in dataset…');
  const stats = el('dl', { id: 'stats', class: 'stats' });
  const statCells = new Map<string, HTMLElement>();
  for (const name of ['epoch', 'step', 'images/s', 'step time', 'train loss', 'train acc', 'test loss', 'test acc']) {
    const dd = el('dd', { 'data-stat': name }, '–');
    statCells.set(name, dd);
    stats.append(el('dt', {}, name), dd);
  }
  const stat = (name: string, v: string) => (statCells.get(name)!.textContent = v);

  // Data: the built-in set until something is dropped.
  const drop = el('div', { id: 'drop-zone', style: 'border: 2px dashed var(--line, #ccc); border-radius: 8px; padding: 1rem; margin-top: 0.75rem' }, 'Drop CIFAR-10’s cifar-10-binary.tar.gz, or a folder of class folders (train/<class>/…, test/<class>/…, or just <class>/…), here.');
  const archiveInput = el('input', { id: 'archive-file', type: 'file', accept: '.gz,.tgz,application/gzip' });
  const folderInput = el('input', { id: 'folder-input', type: 'file', webkitdirectory: '', multiple: '' });
  const builtinBtn = el('button', { id: 'use-builtin', type: 'button' }, 'Use the built-in colour MNIST');
  const dataNote = el('p', { id: 'data-note', class: 'note' });
  let data: LoadedImages;
  const useData = async (load: () => Promise<LoadedImages>) => {
    dataNote.textContent = 'Reading the images…';
    try {
      data = await load();
    } catch (e) {
      dataNote.textContent = `Could not read the data: ${messageOf(e)}`;
      return;
    }
    dataNote.textContent = `Data: ${data.description}. Reset trains on it.`;
  };
  const builtin = () => builtinColorMnist(Math.max(Number(trainCount.value), 100), Math.max(Number(testCount.value), GRID));
  drop.addEventListener('dragover', (e) => e.preventDefault());
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    const items = e.dataTransfer?.items;
    if (!items) return;
    void useData(async () => {
      const files = await droppedFiles(items);
      const archive = files.length === 1 && /\.(tar\.gz|tgz)$/i.test(files[0].path) ? files[0].file : undefined;
      return archive ? cifarArchive(archive) : imageFolders(files);
    });
  });
  archiveInput.addEventListener('change', () => archiveInput.files?.[0] && void useData(() => cifarArchive(archiveInput.files![0])));
  folderInput.addEventListener('change', () => {
    const files: PathedFile[] = Array.from(folderInput.files ?? [], (file) => ({ path: file.webkitRelativePath || file.name, file }));
    void useData(() => imageFolders(files));
  });
  builtinBtn.addEventListener('click', () => void useData(builtin));
  await useData(builtin);
  if (!data!) throw new Error(dataNote.textContent ?? 'the built-in dataset could not be made');

  const lossChart = new LineChart(el('canvas', { id: 'loss-chart', class: 'chart' }), [{ name: 'train', color: '#2f6fde' }, { name: 'test', color: '#e0672b', dots: true }], { title: 'Loss' });
  const accChart = new LineChart(el('canvas', { id: 'acc-chart', class: 'chart' }), [{ name: 'train', color: '#2f6fde' }, { name: 'test', color: '#e0672b', dots: true }], { title: 'Accuracy', yMin: 0, yMax: 1 });
  const grid = el('div', { id: 'prediction-grid', class: 'digit-grid' });
  const confusion = el('table', { id: 'confusion', class: 'confusion' });
  const config = () => `resnet${depth.value}-w${width.value}`;

  $('app').replaceChildren(
    el(
      'section',
      { class: 'card controls' },
      el('h2', {}, 'Training'),
      el('div', { class: 'fields' }, field('Model', depth), field('Width', width, 'first-stage channels'), field('Optimizer', optimizer), field('Learning rate', lr, 'applies live'), field('Batch size', batch), field('Training images', trainCount, 'at most'), field('Test images', testCount, 'at most'), field('Augmentation', augment, 'on the GPU; empty: none'), field('Evaluate every', evalEvery, 'steps'), field('Stop after', maxSteps, 'steps (0: never)')),
      drop,
      el('div', { class: 'buttons' }, field('CIFAR-10 tar.gz', archiveInput), field('Image folder', folderInput), builtinBtn),
      dataNote,
      el('div', { class: 'buttons' }, startBtn, resetBtn),
      status,
      el('p', { class: 'note' }, 'Training runs in a Web Worker with its own GPU device: the CIFAR ResNet of He et al. (3 stages, batch norm, option-A shortcuts), pixels normalised per channel by the training images’ statistics. Model and data changes apply on Reset.'),
      stats,
    ),
    el('section', { class: 'card charts' }, lossChart.canvas, accChart.canvas),
    el('section', { class: 'card' }, el('h2', {}, 'Test predictions'), el('p', { class: 'note' }, 'Predicted class and confidence; wrong ones in red.'), grid),
    el('section', { class: 'card' }, el('h2', {}, 'Confusion matrix'), el('p', { class: 'note' }, 'Rows: true class; columns: predicted.'), confusion),
    checkpointPanel(
      {
        current: () => run && { steps: hooks.steps, checkpoint: (metadata) => run!.checkpoint(metadata), load: (bytes) => run!.load(bytes) },
        key: config,
        fileName: (steps) => `${config()}-step${steps}`,
        afterLoad: async () => showEvaluation(await run!.request<ImagesEvaluation>('evaluate')),
      },
      showFailure,
    ),
  );

  let run: TrainingRun<ImagesChunk> | undefined;
  let shown: { test: ImageDataset; names: string[] } | undefined;
  const draw = inOrder(showFailure);
  const setTrainState = (s: ImagesHooks['state']) => {
    hooks.state = s;
    document.body.dataset.train = s;
    startBtn.textContent = s === 'running' ? 'Pause' : s === 'paused' || s === 'done' ? 'Resume' : 'Start';
    startBtn.disabled = s === 'building';
  };

  function showEvaluation(r: ImagesEvaluation): void {
    if (!shown) return;
    hooks.evals.push({ step: r.step, loss: r.loss, accuracy: r.accuracy, confusion: r.confusion });
    lossChart.add(1, r.step, r.loss);
    accChart.add(1, r.step, r.accuracy);
    stat('test loss', fmt(r.loss));
    stat('test acc', fmt(r.accuracy));
    const classes = r.confusion.length;
    hooks.grid = bestClasses(r.gridProbs, classes).map((b, i) => ({ label: shown!.test.labels[i], ...b }));
    hooks.grid.forEach((g, i) => {
      const cell = grid.children[i] as HTMLElement;
      cell.classList.toggle('wrong', g.predicted !== g.label);
      cell.querySelector('figcaption')!.textContent = `${shown!.names[g.predicted] ?? g.predicted} · ${(g.confidence * 100).toFixed(0)}%`;
      cell.title = `true ${shown!.names[g.label] ?? g.label}, predicted ${shown!.names[g.predicted] ?? g.predicted}`;
    });
    drawNamedConfusion(confusion, r.confusion, shown.names);
    grid.dataset.version = String(hooks.evals.length);
  }

  async function build(): Promise<void> {
    setTrainState('building');
    const old = run;
    run = undefined;
    await old?.stop();
    let aug: Augmentation | undefined;
    try {
      aug = augment.value.trim() ? parseAugmentation(augment.value.trim()) : undefined;
    } catch (e) {
      setTrainState('idle');
      startBtn.disabled = true;
      status.textContent = `${messageOf(e)}. Fix the augmentation field and press Reset.`;
      return;
    }
    const splits = withStatistics({ train: firstImages(data.train, Number(trainCount.value)), test: firstImages(data.test, Number(testCount.value)) });
    const names = [...(data.train.classNames ?? Array.from({ length: splits.train.classes }, (_, i) => String(i)))];
    const count = Math.min(GRID, splits.test.count);
    shown = { test: splits.test, names };
    Object.assign(hooks, { steps: 0, history: [], evals: [], grid: [], dataset: data.description, classNames: names });
    lossChart.clear();
    accChart.clear();
    grid.replaceChildren(
      ...Array.from({ length: count }, (_, i) => {
        const c = pixelCanvas(`test image ${i}`);
        rgbImage(c, splits.test.images.subarray(i * BYTES, (i + 1) * BYTES), 32, 32);
        return el('figure', { class: 'digit' }, c, el('figcaption', {}, '?'));
      }),
    );
    confusion.replaceChildren();
    status.textContent = 'Compiling the training step…';
    const job: ImagesJobConfig = {
      depth: Number(depth.value),
      width: Number(width.value),
      optimizer: optimizer.value as ImagesJobConfig['optimizer'],
      lr: Number(lr.value),
      batch: Number(batch.value),
      seed: num('seed', 1),
      augment: aug,
      train: splits.train,
      test: splits.test,
      grid: splits.test.images.slice(0, count * BYTES),
      settings: { maxSteps: Number(maxSteps.value), evalEvery: Math.max(1, Number(evalEvery.value)) },
    };
    const r = startTraining<ImagesChunk>(worker, { job: 'images', config: job, paused: true, transfer: [job.train.images.buffer, job.train.labels.buffer] });
    run = r;
    const first = new Promise<ImagesEvaluation>((resolve) => {
      r.onEvent = (name, d) =>
        void draw(() => {
          if (r !== run || name !== 'evaluation') return;
          showEvaluation(d as ImagesEvaluation);
          resolve(d as ImagesEvaluation);
        });
    });
    r.onProgress = (c) =>
      void draw(() => {
        if (r !== run) return;
        hooks.history.push(...c.metrics);
        hooks.steps = c.steps;
        for (const m of c.metrics) {
          lossChart.add(0, m.step, m.loss);
          accChart.add(0, m.step, m.accuracy);
        }
        const recent = hooks.history.slice(-16);
        stat('epoch', String(c.epoch));
        stat('step', String(c.steps));
        stat('images/s', Math.round(c.samplesPerSec).toLocaleString('en'));
        stat('step time', `${c.stepMs.toFixed(1)} ms`);
        stat('train loss', fmt(recent.reduce((a, m) => a + m.loss, 0) / recent.length));
        stat('train acc', fmt(recent.reduce((a, m) => a + m.accuracy, 0) / recent.length));
      });
    r.onPaused = (reason) =>
      void draw(() => {
        if (r !== run || !reason) return;
        setTrainState('done');
        status.textContent = reason;
      });
    void r.done.catch((e) => r === run && showFailure(e));
    const { parameters } = await Promise.race([first, r.done.then(() => Promise.reject(new Error('training ended before its first evaluation')))]);
    status.textContent = `ResNet-${depth.value} (width ${width.value}), ${parameters.toLocaleString('en')} parameters; ${splits.train.count} training and ${splits.test.count} test images in ${names.length} classes. Press Start.`;
    setTrainState('idle');
  }

  async function start(): Promise<void> {
    if (!run || hooks.state === 'running' || hooks.state === 'building') return;
    setTrainState('running');
    status.textContent = 'Training…';
    await run.request('settings', { maxSteps: Number(maxSteps.value), evalEvery: Math.max(1, Number(evalEvery.value)) });
    await run.resume();
  }

  async function pause(): Promise<void> {
    if (!run) return;
    await run.pause();
    await draw(() => undefined);
    if (hooks.state === 'running') setTrainState('paused');
    status.textContent = `Paused at step ${hooks.steps}.`;
  }

  const command = inOrder(showFailure);
  startBtn.addEventListener('click', () => void command(() => (hooks.state === 'running' ? pause() : start())));
  resetBtn.addEventListener('click', () => void command(build));
  for (const i of [maxSteps, evalEvery]) i.addEventListener('change', () => void run?.request('settings', { maxSteps: Number(maxSteps.value), evalEvery: Math.max(1, Number(evalEvery.value)) }).catch(showFailure));
  lr.addEventListener('change', () => {
    const v = Number(lr.value);
    if (run && v > 0) void run.setLearningRate(v).then(() => (status.textContent = `Learning rate set to ${v} (from the next step).`), showFailure);
  });

  await build();
  if (params.get('autostart') === '1') await start();
});
