import type { TrainingRun } from '../../src/worker/index.js';
import { LineChart } from './chart.js';
import type { ChunkReport, EvaluationReport } from './classifier_job.js';
import type { ClassifierHooks, WeightView } from './classifier_types.js';
import { drawConfusion } from './confusion.js';
import { DrawPad } from './drawpad.js';
import { grayImage, pixelCanvas } from './images.js';
import { el, yieldToPage } from './shell.js';

const BATCH_SHOWN = 8;

function topK(probs: ArrayLike<number>, k: number): { digit: number; p: number }[] {
  return Array.from(probs, (p, digit) => ({ digit, p }))
    .sort((a, b) => b.p - a.p)
    .slice(0, k);
}

/**
 * What the MLP and CNN pages draw from the worker's reports: live charts, the last training
 * batch, a grid of test predictions, the confusion matrix, the draw-a-digit pad (classified by the
 * worker) and the weight views. Nothing here touches the GPU.
 */
export class ClassifierPanels {
  readonly lossChart: LineChart;
  readonly accChart: LineChart;
  readonly elements: HTMLElement[];
  /** The run that classifies the drawing; set by the page for each new run. */
  run: TrainingRun<ChunkReport> | undefined;
  private readonly gridCells: HTMLElement[] = [];
  private readonly grid = el('div', { id: 'prediction-grid', class: 'digit-grid' });
  private readonly batchStrip = el('div', { id: 'batch-strip', class: 'digit-grid' });
  readonly batchNote = el('p', { class: 'note' });
  private readonly confusion = el('table', { id: 'confusion', class: 'confusion' });
  private readonly padPreview = pixelCanvas('what the network sees (28×28)');
  private readonly top3 = el('ol', { id: 'draw-top3', class: 'top3' });
  private readonly drawPad: DrawPad;
  private predicting = false;
  private predictAgain = false;

  constructor(
    private readonly hooks: ClassifierHooks,
    gridImages: Uint8Array,
    private readonly gridLabels: ArrayLike<number>,
    private readonly views: WeightView[],
  ) {
    const lossCanvas = el('canvas', { id: 'loss-chart', class: 'chart' });
    const accCanvas = el('canvas', { id: 'acc-chart', class: 'chart' });
    for (let i = 0; i < BATCH_SHOWN; i++) this.batchStrip.append(pixelCanvas(`training image ${i + 1} of the last batch`));
    const pad = el('canvas', { id: 'draw-pad', class: 'draw-pad' });
    this.padPreview.id = 'draw-preview';
    const clearBtn = el('button', { id: 'draw-clear', type: 'button' }, 'Clear');
    this.elements = [
      el('section', { class: 'card charts' }, lossCanvas, accCanvas),
      el('section', { class: 'card' }, el('h2', {}, 'Last training batch'), this.batchNote, this.batchStrip),
      el('section', { class: 'card' }, el('h2', {}, 'Test predictions'), el('p', { class: 'note' }, 'Predicted digit and confidence; wrong ones in red.'), this.grid),
      el(
        'div',
        { class: 'row' },
        el('section', { class: 'card' }, el('h2', {}, 'Confusion matrix'), el('p', { class: 'note' }, 'Rows: true digit; columns: predicted.'), this.confusion),
        el('section', { class: 'card draw' }, el('h2', {}, 'Draw a digit'), el('div', { class: 'draw-row' }, pad, el('div', {}, this.padPreview, this.top3, clearBtn))),
      ),
      ...views.map((v) => v.element),
    ];
    this.lossChart = new LineChart(lossCanvas, [{ name: 'train', color: '#2f6fde' }, { name: 'test', color: '#e0672b', dots: true }], { title: 'Loss' });
    this.accChart = new LineChart(accCanvas, [{ name: 'train', color: '#2f6fde' }, { name: 'test', color: '#e0672b', dots: true }], { title: 'Accuracy', yMin: 0, yMax: 1 });
    const count = gridImages.length / 784;
    for (let i = 0; i < count; i++) {
      const c = pixelCanvas();
      grayImage(c, gridImages.subarray(i * 784, (i + 1) * 784), 28, 28);
      const cell = el('figure', { class: 'digit' }, c, el('figcaption', {}, '?'));
      this.gridCells.push(cell);
      this.grid.append(cell);
    }
    this.drawPad = new DrawPad(pad, () => void this.classifyDrawing());
    clearBtn.addEventListener('click', () => {
      this.drawPad.clear();
      this.top3.replaceChildren();
      delete this.top3.dataset.prediction;
      hooks.drawn = undefined;
    });
  }

  /** The parameters every evaluation should carry for the weight views. */
  get weightNames(): string[] {
    return this.views.flatMap((v) => v.weights);
  }

  clearCharts(): void {
    this.lossChart.clear();
    this.accChart.clear();
  }

  showChunk(report: ChunkReport): void {
    for (const m of report.metrics) {
      this.lossChart.add(0, m.step, m.loss);
      this.accChart.add(0, m.step, m.accuracy);
    }
  }

  /** Draws an evaluation a part at a time, yielding to the page between parts. */
  async showEvaluation(r: EvaluationReport, run: TrainingRun<ChunkReport>): Promise<void> {
    const hooks = this.hooks;
    hooks.evals.push({ step: r.step, loss: r.loss, accuracy: r.accuracy });
    if (r.step > 0) {
      this.lossChart.add(1, r.step, r.loss);
      this.accChart.add(1, r.step, r.accuracy);
    }
    drawConfusion(this.confusion, r.confusion);
    await yieldToPage();
    hooks.grid = [];
    this.gridCells.forEach((cell, i) => {
      const [best] = topK(r.gridProbs.subarray(i * 10, (i + 1) * 10), 1);
      const label = this.gridLabels[i];
      hooks.grid.push({ label, predicted: best.digit, confidence: best.p });
      cell.classList.toggle('wrong', best.digit !== label);
      cell.querySelector('figcaption')!.textContent = `${best.digit} · ${(best.p * 100).toFixed(0)}%`;
      cell.title = `true ${label}, predicted ${best.digit} (${(best.p * 100).toFixed(1)}%)`;
    });
    this.grid.dataset.version = String(hooks.evals.length);
    if (r.batch) {
      await yieldToPage();
      this.showBatch(r.batch, r.step);
    }
    for (const v of this.views) {
      await yieldToPage();
      v.update(r, run);
    }
    void this.classifyDrawing();
  }

  private showBatch(images: Float32Array, step: number): void {
    this.hooks.batch = [];
    for (let i = 0; i < images.length / 784; i++) {
      const image = images.subarray(i * 784, (i + 1) * 784);
      this.hooks.batch.push(Array.from(image));
      grayImage(this.batchStrip.children[i] as HTMLCanvasElement, image, 28, 28, 0, 1);
    }
    this.batchStrip.dataset.version = String(step);
  }

  /** Classifies the drawing in the worker; strokes drawn while it answers are classified next. */
  private async classifyDrawing(): Promise<void> {
    if (!this.run || this.drawPad.empty) return;
    if (this.predicting) {
      this.predictAgain = true;
      return;
    }
    this.predicting = true;
    try {
      do {
        this.predictAgain = false;
        const pixels = this.drawPad.pixels();
        grayImage(this.padPreview, pixels, 28, 28);
        const probs = await this.run.request<Float32Array>('predict', pixels);
        const best = topK(probs, 3);
        this.hooks.drawn = { top: best };
        this.top3.replaceChildren(...best.map((b) => el('li', { 'data-digit': String(b.digit) }, el('b', {}, String(b.digit)), el('span', { class: 'bar', style: `width: ${(b.p * 100).toFixed(1)}%` }), `${(b.p * 100).toFixed(1)}%`)));
        this.top3.dataset.prediction = String(best[0].digit);
      } while (this.predictAgain);
    } finally {
      this.predicting = false;
    }
  }
}
