import { startTraining, type TrainingRun } from '../src/worker/index.js';
import { LineChart } from './lib/chart.js';
import { checkpointPanel } from './lib/checkpoint_panel.js';
import { boot, el, field, fmt, inOrder, messageOf, showFailure, $ } from './lib/shell.js';
import type { TextAttention, TextBuilt, TextChunk, TextEvaluation, TextJobConfig, TextModelSizes, TextSample, TextSettings } from './lib/text_job.js';
import { bundledSource, drawAttention, fillIndexSelect } from './lib/text_panels.js';

/** What the end-to-end tests read, instead of scraping canvases. */
interface TextHooks {
  state: 'building' | 'idle' | 'running' | 'paused' | 'done';
  steps: number;
  history: { step: number; loss: number }[];
  evals: TextEvaluation[];
  samples: TextSample[];
  built?: TextBuilt;
  attention?: { step: number; layer: number; head: number; characters: number; rowSums: number[]; maxLogitDifference: number };
}

const SOURCE_LIMIT = 200_000;
const PRESETS: Record<string, TextModelSizes & { batch: number; lr: number }> = {
  small: { layers: 2, heads: 2, dim: 64, context: 32, batch: 16, lr: 3e-3 },
  nanogpt: { layers: 4, heads: 4, dim: 128, context: 64, batch: 12, lr: 1e-3 },
};

// The library's own model, layer and training code as text, inlined by Vite when the page is built:
// three folders of about 200 kB together (the whole of src/ would make the page ~1 MB), cut at SOURCE_LIMIT.
const SOURCES = import.meta.glob('../src/{models,nn,train}/*.ts', { query: '?raw', import: 'default', eager: true }) as Record<string, string>;

void boot(async (worker) => {
  const params = new URLSearchParams(location.search);
  const num = (name: string, fallback: number) => (params.has(name) ? Number(params.get(name)) : fallback);
  const hooks: TextHooks = { state: 'building', steps: 0, history: [], evals: [], samples: [] };
  (window as unknown as { __demo: TextHooks }).__demo = hooks;

  const bundled = bundledSource(SOURCES, SOURCE_LIMIT);
  let custom: { text: string; name: string } | undefined;
  const preset = el('select', { id: 'preset' }, el('option', { value: 'small' }, 'small: 2 layers, 64 dims, context 32'), el('option', { value: 'nanogpt' }, "nanoGPT's: 4 layers, 4 heads, 128 dims, context 64"));
  // A software adapter (CPU) shows progress within seconds only with the small model; a GPU takes nanoGPT's.
  const software = document.getElementById('adapter-summary')?.dataset.software !== 'false';
  preset.value = params.get('preset') ?? (software ? 'small' : 'nanogpt');
  const p0 = PRESETS[preset.value] ?? PRESETS.small;
  const input = (id: string, value: number, attrs: Record<string, string> = {}) => el('input', { id, type: 'number', step: 'any', min: '0', value: String(value), ...attrs });
  const layers = input('layers', num('layers', p0.layers));
  const heads = input('heads', num('heads', p0.heads));
  const dim = input('dim', num('dim', p0.dim));
  const context = input('context', num('context', p0.context));
  const batch = input('batch', num('batch', p0.batch));
  const lr = input('lr', num('lr', p0.lr));
  const evalEvery = input('eval-every', num('evalEvery', 100));
  const sampleEvery = input('sample-every', num('sampleEvery', 200));
  const maxSteps = input('max-steps', num('maxSteps', 0));
  const sampleTokens = input('sample-tokens', num('tokens', 120));
  const temperature = el('input', { id: 'temperature', type: 'range', min: '0.1', max: '1.5', step: '0.05', value: String(num('temperature', 0.8)) });
  const temperatureText = el('span', { id: 'temperature-value' }, temperature.value);
  const prompt = el('input', { id: 'prompt', value: params.get('prompt') ?? 'export function ', size: '24' });
  const generateBtn = el('button', { id: 'generate', type: 'button' }, 'Generate now');
  preset.addEventListener('change', () => {
    const p = PRESETS[preset.value];
    for (const [i, v] of [[layers, p.layers], [heads, p.heads], [dim, p.dim], [context, p.context], [batch, p.batch], [lr, p.lr]] as const) i.value = String(v);
  });

  const paste = el('textarea', { id: 'text-input', rows: '5', style: 'width: 36rem; max-width: 100%; font: 0.8rem ui-monospace, monospace', placeholder: 'Paste or drop a UTF-8 text file here, then press Reset. Empty: the bundled webgpu-dl source code.' });
  const fileInput = el('input', { id: 'text-file', type: 'file', accept: '.txt,text/*' });
  const sourceNote = el('p', { id: 'source-note', class: 'note' });
  const showSource = () =>
    (sourceNote.textContent = custom ? `Training text: ${custom.name}, ${custom.text.length.toLocaleString('en')} characters.` : `Training text: webgpu-dl's own source code (src/models, src/nn, src/train), ${bundled.length.toLocaleString('en')} characters bundled with this page.`);
  const takeFile = async (file: File) => {
    custom = { text: await file.text(), name: file.name };
    paste.value = custom.text.slice(0, 2000);
    showSource();
  };
  fileInput.addEventListener('change', () => fileInput.files?.[0] && void takeFile(fileInput.files[0]).catch(showFailure));
  paste.addEventListener('dragover', (e) => e.preventDefault());
  paste.addEventListener('drop', (e) => {
    const file = e.dataTransfer?.files[0];
    if (!file) return;
    e.preventDefault();
    void takeFile(file).catch(showFailure);
  });
  paste.addEventListener('input', () => {
    custom = paste.value.trim() ? { text: paste.value, name: 'pasted text' } : undefined;
    showSource();
  });
  showSource();

  const startBtn = el('button', { id: 'start', type: 'button', class: 'primary' }, 'Start');
  const resetBtn = el('button', { id: 'reset', type: 'button' }, 'Reset');
  const status = el('p', { id: 'train-status', class: 'note' }, 'Building the model…');
  const stats = el('dl', { id: 'stats', class: 'stats' });
  const statCells = new Map<string, HTMLElement>();
  for (const name of ['step', 'chars/s', 'step time', 'train loss', 'eval train', 'eval val', 'parameters', 'vocab']) {
    const dd = el('dd', { 'data-stat': name }, '–');
    statCells.set(name, dd);
    stats.append(el('dt', {}, name), dd);
  }
  const stat = (name: string, v: string) => (statCells.get(name)!.textContent = v);

  const lossCanvas = el('canvas', { id: 'loss-chart', class: 'chart' });
  const lossChart = new LineChart(lossCanvas, [{ name: 'batch loss', color: '#8aa4c8' }, { name: 'train (fixed windows)', color: '#1f5fbf', dots: true }, { name: 'validation', color: '#d9822b', dots: true }], { title: 'Cross-entropy (nats per character)' });
  const samplesBox = el('div', { id: 'samples' });
  const attnPrompt = el('input', { id: 'attention-prompt', value: params.get('attentionPrompt') ?? 'const x = 1;', size: '24' });
  const attnLayer = el('select', { id: 'attention-layer' });
  const attnHead = el('select', { id: 'attention-head' });
  const attnBtn = el('button', { id: 'attention-show', type: 'button' }, 'Show');
  const attnCanvas = el('canvas', { id: 'attention', class: 'attention', style: 'max-width: 100%; margin-top: 0.75rem' });
  const attnNote = el('p', { id: 'attention-note', class: 'note' });
  let attention: TextAttention | undefined;

  const model = (): TextModelSizes => ({ layers: Number(layers.value), heads: Number(heads.value), dim: Number(dim.value), context: Number(context.value) });
  const settings = (): TextSettings => ({
    maxSteps: Number(maxSteps.value),
    evalEvery: Math.max(1, Number(evalEvery.value)),
    sampleEvery: Math.max(1, Number(sampleEvery.value)),
    sampleTokens: Math.max(1, Number(sampleTokens.value)),
    temperature: Number(temperature.value),
    prompt: prompt.value,
  });

  $('app').replaceChildren(
    el(
      'section',
      { class: 'card controls' },
      el('h2', {}, 'Training'),
      el('div', { class: 'fields' }, field('Model', preset), field('Layers', layers), field('Heads', heads), field('Width (dims)', dim), field('Context', context, 'characters'), field('Batch', batch, 'windows per step'), field('Learning rate', lr, 'AdamW; applies live'), field('Evaluate every', evalEvery, 'steps'), field('Sample every', sampleEvery, 'steps'), field('Stop after', maxSteps, 'steps (0: never)')),
      el('div', { class: 'fields' }, field('Text file', fileInput), el('label', { class: 'field' }, el('span', {}, 'Or paste / drop text'), paste)),
      sourceNote,
      el('div', { class: 'buttons' }, startBtn, resetBtn),
      status,
      el('p', { class: 'note' }, 'Training runs in a Web Worker with its own GPU device: AdamW (β2 0.99, weight decay 0.1, gradients clipped to norm 1) on random windows of the first 90% of the text; the last 10% is held out for the validation loss. Model and text changes apply on Reset.'),
      stats,
    ),
    el('section', { class: 'card' }, lossCanvas),
    el(
      'section',
      { class: 'card' },
      el('h2', {}, 'Samples'),
      el('div', { class: 'fields' }, field('Prompt', prompt), el('label', { class: 'field' }, el('span', {}, 'Temperature'), temperature, temperatureText), field('Characters', sampleTokens), el('div', { class: 'buttons' }, generateBtn)),
      el('p', { class: 'note' }, 'Generated by the model as it trains (each character drawn from softmax(logits / temperature)); newest first.'),
      samplesBox,
    ),
    el(
      'section',
      { class: 'card' },
      el('h2', {}, 'Attention'),
      el('div', { class: 'fields' }, field('Prompt', attnPrompt), field('Layer', attnLayer), field('Head', attnHead), el('div', { class: 'buttons' }, attnBtn)),
      el('p', { class: 'note' }, "Row t: where the character at t looks (its softmax weights over characters 0…t). The GPU's fused attention kernel never stores this T×T matrix, so it is recomputed on the CPU in float64 by a forward pass of the prompt through the current weights; its logits are checked against the GPU's."),
      attnCanvas,
      attnNote,
    ),
    checkpointPanel(
      {
        current: () => run && { steps: hooks.steps, checkpoint: () => run!.checkpoint(), load: (bytes) => run!.load(bytes) },
        key: () => `text:${Object.values(model()).join(',')}`,
        fileName: (steps) => `transformer-${model().layers}x${model().dim}-step${steps}`,
        afterLoad: async () => {
          const e = await run!.request<TextEvaluation>('evaluate');
          showEvaluation(e);
          await showAttention();
        },
      },
      showFailure,
    ),
  );

  let run: TrainingRun<TextChunk> | undefined;
  const draw = inOrder(showFailure);
  const setTrainState = (s: TextHooks['state']) => {
    hooks.state = s;
    document.body.dataset.train = s;
    startBtn.textContent = s === 'running' ? 'Pause' : s === 'paused' || s === 'done' ? 'Resume' : 'Start';
    startBtn.disabled = s === 'building';
  };

  function showEvaluation(e: TextEvaluation): void {
    hooks.evals.push(e);
    lossChart.add(1, e.step, e.trainLoss);
    lossChart.add(2, e.step, e.valLoss);
    stat('eval train', fmt(e.trainLoss));
    stat('eval val', fmt(e.valLoss));
  }

  function showSample(s: TextSample): void {
    hooks.samples.push(s);
    const pre = el('pre', { class: 'sample' }, el('strong', {}, s.prompt), s.text);
    samplesBox.prepend(el('div', { class: 'sample-entry', 'data-step': String(s.step) }, el('h3', {}, `step ${s.step} · temperature ${s.temperature}`), pre));
    while (samplesBox.children.length > 6) samplesBox.lastElementChild!.remove();
  }

  async function showAttention(): Promise<void> {
    if (!run) return;
    try {
      attention = await run.request<TextAttention>('attention', attnPrompt.value);
    } catch (e) {
      attnNote.textContent = messageOf(e);
      return;
    }
    fillIndexSelect(attnLayer, attention.patterns.length, 'layer');
    fillIndexSelect(attnHead, attention.patterns[0].length, 'head');
    redrawAttention();
  }

  function redrawAttention(): void {
    if (!attention) return;
    const layer = Number(attnLayer.value);
    const head = Number(attnHead.value);
    drawAttention(attnCanvas, attention, layer, head);
    const T = attention.characters.length;
    const pattern = attention.patterns[layer][head];
    const rowSums = Array.from({ length: T }, (_, t) => pattern.subarray(t * T, t * T + T).reduce((a, b) => a + b, 0));
    hooks.attention = { step: attention.step, layer, head, characters: T, rowSums, maxLogitDifference: attention.maxLogitDifference };
    attnNote.textContent = `Layer ${layer}, head ${head} after ${attention.step} steps, on the last ${T} characters of the prompt. CPU float64 vs GPU logits: largest difference ${attention.maxLogitDifference.toExponential(1)}.`;
    attnNote.dataset.step = String(attention.step);
  }
  attnBtn.addEventListener('click', () => void showAttention().catch(showFailure));
  let generated = 0;
  generateBtn.addEventListener('click', () => {
    const args = { prompt: prompt.value, tokens: Math.max(1, Number(sampleTokens.value)), temperature: Number(temperature.value), seed: 1000 + generated++ };
    void run
      ?.request<TextSample>('sample', args)
      .then((s) => draw(() => showSample(s)))
      .catch((e) => (status.textContent = `Could not generate: ${messageOf(e)}`));
  });
  for (const s of [attnLayer, attnHead]) s.addEventListener('change', redrawAttention);

  async function build(): Promise<void> {
    setTrainState('building');
    const old = run;
    run = undefined;
    await old?.stop();
    Object.assign(hooks, { steps: 0, history: [], evals: [], samples: [], built: undefined, attention: undefined });
    lossChart.clear();
    samplesBox.replaceChildren();
    status.textContent = 'Compiling the training step…';
    const text = new TextEncoder().encode(custom?.text ?? bundled);
    const job: TextJobConfig = { text, source: custom?.name ?? 'the bundled source', model: model(), batch: Number(batch.value), lr: Number(lr.value), seed: num('seed', 1), evalWindows: num('evalWindows', 64), settings: settings() };
    const r = startTraining<TextChunk>(worker, { job: 'text', config: job, paused: true, transfer: [text.buffer] });
    run = r;
    const built = new Promise<TextBuilt>((resolve) => {
      r.onEvent = (name, data) =>
        void draw(() => {
          if (r !== run) return;
          if (name === 'built') resolve(data as TextBuilt);
          else if (name === 'evaluation') showEvaluation(data as TextEvaluation);
          else if (name === 'sample') {
            showSample(data as TextSample);
            return showAttention();
          }
        });
    });
    r.onProgress = (c) =>
      void draw(() => {
        if (r !== run) return;
        hooks.history.push({ step: c.step, loss: c.loss });
        hooks.steps = c.step;
        lossChart.add(0, c.step, c.loss);
        stat('step', String(c.step));
        stat('chars/s', Math.round(c.tokensPerSec).toLocaleString('en'));
        stat('step time', `${c.stepMs.toFixed(1)} ms`);
        stat('train loss', fmt(c.loss));
      });
    r.onPaused = (reason) =>
      void draw(() => {
        if (r !== run || !reason) return;
        setTrainState('done');
        status.textContent = reason;
      });
    // A text the model cannot train on (too short, not UTF-8) is told in the status line; later failures get the error card.
    void r.done.catch((e) => r === run && hooks.state !== 'building' && showFailure(e));
    let info: TextBuilt;
    try {
      info = await Promise.race([built, r.done.then(() => Promise.reject(new Error('training ended before the model was built')))]);
    } catch (e) {
      if (r !== run) return;
      setTrainState('idle');
      startBtn.disabled = true;
      status.textContent = `Cannot train on ${job.source}: ${messageOf(e)}. Give another text or model and press Reset.`;
      status.dataset.error = 'true';
      return;
    }
    delete status.dataset.error;
    hooks.built = info;
    stat('parameters', info.parameters.toLocaleString('en'));
    stat('vocab', String(info.vocab.length));
    status.textContent = `${info.parameters.toLocaleString('en')} parameters; ${info.vocab.length} distinct characters, ${info.trainCharacters.toLocaleString('en')} for training and ${(info.characters - info.trainCharacters).toLocaleString('en')} for validation. Press Start.`;
    setTrainState('idle');
    await showAttention();
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
    await draw(() => undefined);
    if (hooks.state === 'running') setTrainState('paused');
    status.textContent = `Paused at step ${hooks.steps}.`;
  }

  const command = inOrder(showFailure);
  startBtn.addEventListener('click', () => void command(() => (hooks.state === 'running' ? pause() : start())));
  resetBtn.addEventListener('click', () => void command(build));
  temperature.addEventListener('input', () => (temperatureText.textContent = temperature.value));
  for (const i of [maxSteps, evalEvery, sampleEvery, sampleTokens, temperature, prompt]) i.addEventListener('change', () => void run?.request('settings', settings()).catch(showFailure));
  lr.addEventListener('change', () => {
    const v = Number(lr.value);
    if (run && v > 0) void run.setLearningRate(v).then(() => (status.textContent = `Learning rate set to ${v} (from the next step).`), showFailure);
  });

  await build();
  if (params.get('autostart') === '1') await start();
});
