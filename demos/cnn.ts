import { compileStep, Conv2d, Flatten, Linear, MaxPool2d, mnistCnn, ReLU, Sequential, type CompiledStep, type ImageDataset, type Value } from '../src/index.js';
import { classifierDemo, type WeightView } from './lib/classifier_demo.js';
import { grayImage, pixelCanvas, weightImage } from './lib/images.js';
import type { LiveTrainer } from './lib/live_trainer.js';
import { boot, el } from './lib/shell.js';

/**
 * conv 3×3 → ReLU → maxpool 2 per entry of `channels`, then one Linear to the 10 classes: small
 * enough to train at interactive speed on a software adapter (28 → 26 → 13 → 11 → 5).
 */
function smallCnn(channels: number[]): Sequential {
  const layers = [];
  let c = 1;
  let side = 28;
  for (const out of channels) {
    layers.push(new Conv2d(c, out, 3), ReLU(), new MaxPool2d(2));
    c = out;
    side = Math.floor((side - 2) / 2);
  }
  if (side < 1) throw new Error(`${channels.length} conv blocks shrink 28×28 images to nothing; use at most 3`);
  return new Sequential(...layers, new Flatten(), new Linear(c * side * side, 10));
}

const MAX_MAPS = 16;

/** The first conv layer's 3×3 filters (enlarged), whose responses the feature maps show. */
function filters(): WeightView {
  const box = el('div', { id: 'filters', class: 'digit-grid weights' });
  return {
    element: el('section', { class: 'card' }, el('h2', {}, 'First-layer filters'), el('p', { class: 'note' }, 'Red positive, blue negative.'), box),
    async update(live) {
      const name = '0.weight';
      const w = await live.trainer.store.read(name);
      const [out, , kh, kw] = live.trainer.store.entry(name).shape;
      if (box.children.length !== out) box.replaceChildren(...Array.from({ length: out }, (_, i) => pixelCanvas(`filter ${i}`)));
      for (let i = 0; i < out; i++) weightImage(box.children[i] as HTMLCanvasElement, w.subarray(i * kh * kw, (i + 1) * kh * kw), kw, kh);
      box.dataset.filters = String(out);
    },
  };
}

/** Every layer's output for one chosen test digit, read from an inference step that exposes them all. */
function featureMaps(): WeightView {
  const pick = el('input', { id: 'feature-digit', type: 'number', min: '0', max: '99', value: '0' });
  const layers = el('div', { id: 'feature-maps', class: 'feature-maps' });
  let step: CompiledStep<'x'> | undefined;
  let stepFor: { live: LiveTrainer; device: GPUDevice } | undefined;
  let current: { live: LiveTrainer; test: ImageDataset } | undefined;
  /** Layers whose output is a 4-D feature map (not the flattened tail). */
  const shown = new Set<number>();

  async function draw(live: LiveTrainer, test: ImageDataset): Promise<void> {
    const model = live.options.model;
    // A new trainer, or a new device after a loss (LiveTrainer recovers in the same engine).
    if (stepFor?.live !== live || stepFor.device !== live.engine.device) {
      step?.dispose();
      shown.clear();
      step = await compileStep<'x'>(live.engine, {
        inputs: { x: { shape: [1, 1, 28, 28] } },
        stores: [live.trainer.store],
        build: (g, { x }) => {
          const outputs: Record<string, Value> = {};
          let h = x;
          model.layers.forEach((layer, i) => {
            h = layer.apply(g, h, { store: live.trainer.store, training: false });
            if (h.shape.length === 4) {
              outputs[`l${i}`] = h;
              shown.add(i);
            }
          });
          return { outputs };
        },
      });
      stepFor = { live, device: live.engine.device };
    }
    const index = Math.max(0, Math.min(test.count - 1, Number(pick.value) || 0));
    const image = test.images.subarray(index * 784, (index + 1) * 784);
    step!.run({ x: Float32Array.from(image, (v) => v / 255) });
    const input = pixelCanvas(`test digit ${index}, label ${test.labels[index]}`);
    grayImage(input, image, 28, 28);
    const rows: HTMLElement[] = [el('div', { class: 'fm-row' }, el('span', { class: 'fm-name' }, `input (label ${test.labels[index]})`), input)];
    for (let i = 0; i < model.layers.length; i++) {
      const layerOut = model.layers[i];
      if (!shown.has(i)) continue;
      const values = await step!.read(`l${i}`);
      const channels = inferChannels(model, i);
      const side = Math.round(Math.sqrt(values.length / channels));
      const row = el('div', { class: 'fm-row', 'data-layer': String(i) }, el('span', { class: 'fm-name' }, `${i}: ${layerOut.describe()} · ${channels}×${side}×${side}`));
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

  pick.addEventListener('change', () => {
    if (current) void draw(current.live, current.test);
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
    async update(live, test) {
      current = { live, test };
      await draw(live, test);
    },
  };
}

/** Output channels of layer `i`: those of the last convolution at or before it. */
function inferChannels(model: Sequential, i: number): number {
  for (let k = i; k >= 0; k--) {
    const layer = model.layers[k];
    if (layer instanceof Conv2d) return layer.outChannels;
  }
  return 1;
}

void boot((engine) =>
  classifierDemo(engine, {
    key: 'cnn',
    inputShape: [1, 28, 28],
    arch: { label: 'Conv channels', default: '8, 16', hint: 'one 3×3 conv + pool each; “mnistCnn” for the benchmark model (slow on a software GPU)' },
    buildModel: (sizes) => (sizes.length ? smallCnn(sizes) : mnistCnn()),
    defaults: { lr: 0.002, batch: 32, optimizer: 'adam', train: 5000, test: 500, evalEvery: 64 },
    views: () => [filters(), featureMaps()],
  }),
);
