import { beforeAll, describe, expect, it } from 'vitest';
import type { ImageDataset } from '../../src/data/dataset.js';
import { loadMnist } from '../../src/data/idx_files.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { compileStep } from '../../src/graph/compile.js';
import { Flatten, Linear, ReLU, Sequential } from '../../src/nn/layers.js';
import { Adam } from '../../src/optim/optimizers.js';
import { computePruningMasks } from '../../src/compress/prune.js';
import {
  dequantizeSafetensors,
  dequantizeStateDict,
  encodeQuantizedSafetensors,
  quantizeStateDict,
} from '../../src/compress/quantize.js';
import { CheckpointError, decodeSafetensors, encodeSafetensors, type Int8Tensor, type NamedTensor } from '../../src/train/safetensors.js';
import { Trainer } from '../../src/train/trainer.js';
import { useEngine } from '../helpers/engine.js';
import { uniform } from '../helpers/random.js';
import { quantizeRows } from '../reference/quantize.js';

const engine = useEngine();

const tensor = (name: string, shape: number[], data: Float32Array): NamedTensor => ({ name, shape, data });

/** A state dict with awkward shapes: size-1 dimensions, a conv weight, non-square, a bias. */
function stateDict(): NamedTensor[] {
  const scaled = (n: number, seed: number) => uniform(n, seed).map((v, i) => v * (1 + (i % 5)) * 0.1);
  return [
    tensor('0.weight', [7, 3], scaled(21, 1)),
    tensor('0.bias', [7], uniform(7, 2)),
    tensor('1.weight', [1, 5], scaled(5, 3)),
    tensor('2.weight', [5, 1], scaled(5, 4)),
    tensor('3.weight', [3, 1, 2, 2], scaled(12, 5)),
    tensor('4.weight', [33, 17], scaled(561, 6)),
    tensor('bn.weight', [4], uniform(4, 7)),
  ];
}

const byName = <T extends { name: string }>(list: readonly T[]) => new Map(list.map((t) => [t.name, t]));

describe('int8 quantisation', () => {
  it('matches the float64 reference codes and scales, within half a step per value', () => {
    const input = stateDict();
    const { tensors, report } = quantizeStateDict(input);
    const out = byName(tensors);
    expect(tensors.map((t) => t.name)).toEqual([
      '0.weight', '0.weight_scale', '0.bias', '1.weight', '1.weight_scale', '2.weight', '2.weight_scale',
      '3.weight', '3.weight_scale', '4.weight', '4.weight_scale', 'bn.weight',
    ]);
    const back = byName(dequantizeStateDict(tensors));
    for (const t of input) {
      if (!t.name.endsWith('.weight') || t.shape.length < 2) {
        expect(out.get(t.name)!.data, t.name).toBe(t.data); // biases and batch norm untouched
        continue;
      }
      const rows = t.shape[0];
      const cols = t.data.length / rows;
      const ref = quantizeRows(t.data, rows);
      const q = out.get(t.name) as Int8Tensor;
      const scale = out.get(`${t.name}_scale`) as NamedTensor;
      expect(q.data).toBeInstanceOf(Int8Array);
      expect(q.shape).toEqual(t.shape);
      expect(scale.shape).toEqual([rows]);
      expect([...q.data], t.name).toEqual(ref.q);
      // The scale is stored as f32: equal to the float64 one up to its rounding.
      for (let r = 0; r < rows; r++) expect(Math.abs(scale.data[r] - ref.scale[r])).toBeLessThanOrEqual(ref.scale[r] * 2 ** -24);
      // |w − q·s| ≤ s/2, plus the f32 roundings of the scale and of the dequantised value.
      const w = back.get(t.name)!.data;
      let worst = 0;
      for (let i = 0; i < w.length; i++) {
        const s = ref.scale[Math.floor(i / cols)];
        const err = Math.abs(w[i] - t.data[i]);
        expect(err, `${t.name}[${i}]`).toBeLessThanOrEqual((s / 2) * (1 + 2 ** -22) + 2 ** -23 * Math.abs(t.data[i]));
        worst = Math.max(worst, err);
      }
      const entry = report.tensors.find((e) => e.name === t.name)!;
      expect(entry.maxAbsError).toBe(worst);
      expect(entry.maxScale).toBe(Math.max(...scale.data));
    }
    expect(report.tensors.map((e) => e.name)).toEqual(['0.weight', '1.weight', '2.weight', '3.weight', '4.weight']);
    expect(report.bytesBefore).toBe(4 * (21 + 7 + 5 + 5 + 12 + 561 + 4));
    // int8 codes, one f32 scale per output channel, the rest as before.
    expect(report.bytesAfter).toBe(21 + 5 + 5 + 12 + 561 + 4 * (7 + 1 + 5 + 3 + 33) + 4 * (7 + 4));
    expect([...back.keys()]).toEqual(input.map((t) => t.name));
  });

  it('rounds halves away from zero, and keeps zero rows (pruned weights) exactly zero', () => {
    const { tensors } = quantizeStateDict([
      tensor('a.weight', [1, 7], Float32Array.of(127, 0.5, -0.5, 1.5, -2.5, 2.5, -126.49)),
      tensor('z.weight', [3, 2], Float32Array.of(0, 0, 1, -0.25, 0, -0)),
    ]);
    const out = byName(tensors);
    expect([...out.get('a.weight')!.data]).toEqual([127, 1, -1, 2, -3, 3, -126]);
    expect([...out.get('a.weight_scale')!.data]).toEqual([1]);
    expect([...out.get('z.weight')!.data]).toEqual([0, 0, 127, -32, 0, 0]);
    expect([...out.get('z.weight_scale')!.data]).toEqual([1, Math.fround(1 / 127), 1]);
    const back = byName(dequantizeStateDict(tensors)).get('z.weight')!.data;
    expect([back[0], back[1], back[4], back[5]]).toEqual([0, 0, 0, 0]);
  });

  it('round-trips the int8 form through safetensors as I8 weights and F32 scales', () => {
    const q = quantizeStateDict(stateDict());
    const bytes = encodeQuantizedSafetensors(q);
    const { tensors, int8, metadata } = decodeSafetensors(bytes);
    expect(metadata.quantization).toMatch(/int8 symmetric per output channel/);
    expect([...int8.keys()].sort()).toEqual(['0.weight', '1.weight', '2.weight', '3.weight', '4.weight']);
    for (const t of q.tensors) {
      const found = int8.get(t.name) ?? tensors.get(t.name)!;
      expect(found.shape, t.name).toEqual(t.shape);
      expect([...found.data], t.name).toEqual([...t.data]);
    }
    const sorted = (l: NamedTensor[]) => [...l].sort((a, b) => (a.name < b.name ? -1 : 1));
    expect(sorted(dequantizeSafetensors(bytes))).toEqual(sorted(dequantizeStateDict(q.tensors)));
  });

  it('names the problem when tensors do not fit', () => {
    expect(() => quantizeStateDict([tensor('a.weight', [2, 3], new Float32Array(5))])).toThrow(ShapeError);
    expect(() => quantizeStateDict([tensor('a.weight', [2, 3], new Float32Array(5))])).toThrow(/quantize: 'a.weight' \[2, 3\] takes 6 values, got 5/);
    expect(() => quantizeStateDict([tensor('a.weight', [2, 2], new Float32Array(4)), tensor('a.weight_scale', [2], new Float32Array(2))])).toThrow(
      /'a.weight' would store its scales as 'a.weight_scale', which the state dict already holds/,
    );
    const { tensors } = quantizeStateDict([tensor('a.weight', [2, 3], uniform(6, 1))]);
    expect(() => dequantizeStateDict(tensors.filter((t) => !t.name.endsWith('_scale')))).toThrow(CheckpointError);
    expect(() => dequantizeStateDict([tensors[0], tensor('a.weight_scale', [3], new Float32Array(3))])).toThrow(
      /dequantize: int8 'a.weight' \[2, 3\] needs F32 'a.weight_scale' of shape \[2\], found \[3\]/,
    );
  });
});

describe('pruned and int8-quantised MLP on real MNIST', () => {
  let train: ImageDataset;
  let test: ImageDataset;
  const head = (d: ImageDataset, n: number): ImageDataset => ({ ...d, count: n, images: d.images.subarray(0, n * 784), labels: d.labels.subarray(0, n) });

  beforeAll(async () => {
    const mnist = await loadMnist();
    train = head(mnist.train, 2000);
    test = head(mnist.test, 1000);
  });

  it('keeps accuracy within 3 points of the dense model after 50% pruning, fine-tuning and int8 weights', async () => {
    const model = new Sequential(new Flatten(), new Linear(784, 64), ReLU(), new Linear(64, 10));
    const trainer = new Trainer(engine(), { model, inputShape: [1, 28, 28], classes: 10, optimizer: new Adam({ lr: 3e-3 }), seed: 5 });
    await trainer.fit(train, { epochs: 2, batchSize: 50 });
    const dense = (await trainer.evaluate(test)).accuracy;
    expect(dense).toBeGreaterThan(0.8);

    const pruner = await computePruningMasks(trainer.store, { sparsity: 0.5, scope: 'per-layer' });
    await pruner.applyNow();
    const pruned = (await trainer.evaluate(test)).accuracy;

    // Fine-tune with the mask re-applied after every optimizer step.
    const batch = 50;
    const store = trainer.store;
    const step = await compileStep(engine(), {
      inputs: { x: { shape: [batch, 1, 28, 28] }, labels: { shape: [batch], dtype: 'u32' } },
      stores: [store],
      build: (g, { x, labels }) => {
        const [loss] = g.apply('softmax_cross_entropy', [model.apply(g, x, { store, training: true }), labels], {});
        return { outputs: { loss }, minimize: { loss, store, optimizer: new Adam({ lr: 1e-3 }) } };
      },
    });
    for (let i = 0; i < 20; i++) {
      const x = Float32Array.from(train.images.subarray(i * batch * 784, (i + 1) * batch * 784), (v) => v / 255);
      step.run({ x, labels: Uint32Array.from(train.labels.subarray(i * batch, (i + 1) * batch)) }, { after: (e) => pruner.encode(e) });
    }
    step.dispose();
    const report = await pruner.sparsity();
    // round(0.5 · 784 · 64) and round(0.5 · 64 · 10) zeros: exactly half of each layer.
    expect(report.tensors.map((t) => t.fraction)).toEqual([0.5, 0.5]);
    const finetuned = (await trainer.evaluate(test)).accuracy;
    pruner.dispose();

    const checkpoint = await trainer.checkpoint();
    const q = quantizeStateDict(decodeSafetensors(checkpoint).tensors.values());
    const bytes = encodeQuantizedSafetensors(q);
    // int8 weights, f32 biases and scales: a little over a quarter of the f32 file.
    expect(bytes.length).toBeLessThan(0.26 * checkpoint.length);
    expect(bytes.length).toBeGreaterThan(0.25 * checkpoint.length);
    trainer.load(encodeSafetensors(dequantizeSafetensors(bytes)));
    const quantised = (await trainer.evaluate(test)).accuracy;
    // Zero stays zero through symmetric int8.
    const w = await trainer.store.read('1.weight');
    expect(w.filter((v) => v === 0).length).toBeGreaterThanOrEqual(784 * 32);
    trainer.dispose();

    // Pruning alone costs a few points (0.84 → 0.80 with this seed); fine-tuning wins them back.
    expect(pruned).toBeGreaterThan(0.5);
    expect(finetuned).toBeGreaterThanOrEqual(dense - 0.03);
    expect(quantised).toBeGreaterThanOrEqual(dense - 0.03);
  });

  it('leaves no buffers alive', () => {
    expect(engine().stats.liveBuffers).toBe(0);
  });
});
