import { classifierDemo, type WeightView } from './lib/classifier_demo.js';
import { weightImage, pixelCanvas } from './lib/images.js';
import { boot, el } from './lib/shell.js';

const SHOWN_UNITS = 48;
const FIRST_LAYER = '1.weight';

/** Each first-layer unit's 784 incoming weights as a 28×28 image: the strokes it responds to. */
function firstLayerWeights(): WeightView {
  const box = el('div', { id: 'weights', class: 'digit-grid weights' });
  const element = el(
    'section',
    { class: 'card' },
    el('h2', {}, 'First-layer weights'),
    el('p', { class: 'note' }, `The incoming weights of the first hidden units as 28×28 images (red positive, blue negative; up to ${SHOWN_UNITS} shown).`),
    box,
  );
  return {
    element,
    weights: [FIRST_LAYER],
    update(report) {
      const w = report.weights.find((t) => t.name === FIRST_LAYER)!.data;
      const units = Math.min(SHOWN_UNITS, w.length / 784);
      if (box.children.length !== units) box.replaceChildren(...Array.from({ length: units }, (_, i) => pixelCanvas(`unit ${i}`)));
      for (let i = 0; i < units; i++) weightImage(box.children[i] as HTMLCanvasElement, w.subarray(i * 784, (i + 1) * 784), 28, 28);
      box.dataset.units = String(units);
    },
  };
}

void boot((worker) =>
  classifierDemo(worker, {
    key: 'mlp',
    inputShape: [784],
    arch: { label: 'Hidden sizes', default: '128, 64', hint: 'comma-separated; applies on Reset' },
    defaults: { lr: 0.002, batch: 64, optimizer: 'adam', train: 10000, test: 1000, evalEvery: 64 },
    views: () => [firstLayerWeights()],
  }),
);
