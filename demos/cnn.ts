import { classifierDemo, type WeightView } from './lib/classifier_demo.js';
import type { FeatureMaps } from './lib/feature_maps.js';
import { grayImage, pixelCanvas, weightImage } from './lib/images.js';
import { boot, el, showFailure } from './lib/shell.js';

const MAX_MAPS = 16;
const FIRST_CONV = '0.weight';

/** The first conv layer's 3×3 filters (enlarged), whose responses the feature maps show. */
function filters(): WeightView {
  const box = el('div', { id: 'filters', class: 'digit-grid weights' });
  return {
    element: el('section', { class: 'card' }, el('h2', {}, 'First-layer filters'), el('p', { class: 'note' }, 'Red positive, blue negative.'), box),
    weights: [FIRST_CONV],
    update(report) {
      const { data: w, shape } = report.weights.find((t) => t.name === FIRST_CONV)!;
      const [out, , kh, kw] = shape;
      if (box.children.length !== out) box.replaceChildren(...Array.from({ length: out }, (_, i) => pixelCanvas(`filter ${i}`)));
      for (let i = 0; i < out; i++) weightImage(box.children[i] as HTMLCanvasElement, w.subarray(i * kh * kw, (i + 1) * kh * kw), kw, kh);
      box.dataset.filters = String(out);
    },
  };
}

/** Every layer's output for one chosen test digit, computed in the worker with each evaluation. */
function featureMaps(): WeightView {
  const pick = el('input', { id: 'feature-digit', type: 'number', min: '0', max: '99', value: '0' });
  const layers = el('div', { id: 'feature-maps', class: 'feature-maps' });

  function draw(maps: FeatureMaps): void {
    const input = pixelCanvas(`test digit ${maps.index}, label ${maps.label}`);
    grayImage(input, maps.image, 28, 28);
    const rows: HTMLElement[] = [el('div', { class: 'fm-row' }, el('span', { class: 'fm-name' }, `input (label ${maps.label})`), input)];
    for (const { layer, name, channels, side, values } of maps.layers) {
      const row = el('div', { class: 'fm-row', 'data-layer': String(layer) }, el('span', { class: 'fm-name' }, `${layer}: ${name} · ${channels}×${side}×${side}`));
      for (let c = 0; c < Math.min(channels, MAX_MAPS); c++) {
        const map = values.subarray(c * side * side, (c + 1) * side * side);
        let lo = Infinity;
        let hi = -Infinity;
        for (const v of map) {
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        }
        const canvas = pixelCanvas(`channel ${c}`);
        grayImage(canvas, map, side, side, lo, hi > lo ? hi : lo + 1);
        row.append(canvas);
      }
      rows.push(row);
    }
    layers.replaceChildren(...rows);
    layers.dataset.layers = String(rows.length - 1);
  }

  let current: Parameters<WeightView['update']>[1] | undefined;
  pick.addEventListener('change', () => {
    current
      ?.request<FeatureMaps | undefined>('featureMaps', Number(pick.value) || 0)
      .then((maps) => maps && draw(maps))
      .catch(showFailure);
  });
  return {
    element: el(
      'section',
      { class: 'card' },
      el('h2', {}, 'Feature maps'),
      el('label', { class: 'field' }, el('span', {}, 'Test digit number'), pick),
      el('p', { class: 'note' }, `What each convolution, ReLU and pooling layer makes of the digit (up to ${MAX_MAPS} channels each, each scaled to its own range).`),
      layers,
    ),
    weights: [],
    update(report, run) {
      current = run;
      if (report.featureMaps) draw(report.featureMaps);
    },
  };
}

void boot((worker) =>
  classifierDemo(worker, {
    key: 'cnn',
    inputShape: [1, 28, 28],
    arch: { label: 'Conv channels', default: '8, 16', hint: 'one 3×3 conv + pool each; “mnistCnn” for the benchmark model (slow on a software GPU)' },
    defaults: { lr: 0.002, batch: 32, optimizer: 'adam', train: 5000, test: 500, evalEvery: 64 },
    views: () => [filters(), featureMaps()],
  }),
);
