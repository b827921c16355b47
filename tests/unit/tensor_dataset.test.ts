import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GpuTensorDataset } from '../../src/data/gpu_tensor_dataset.js';
import { DatasetError } from '../../src/data/idx.js';
import { tensorDataset, type TensorDataset } from '../../src/data/tensor_dataset.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { useEngine } from '../helpers/engine.js';
import { integers, uniform } from '../helpers/random.js';

const engine = useEngine();

describe('tensorDataset validation', () => {
  const x = uniform(12, 1); // 3 samples of [4] or 4 of [3]

  it('derives the count from featureShape and defaults to classification', () => {
    const d = tensorDataset(x, new Uint8Array([0, 2, 1]), { featureShape: [2, 2] });
    expect(d.task).toBe('classification');
    expect(d.count).toBe(3);
    expect(d.classes).toBe(3);
    expect(d.targets).toBeInstanceOf(Uint32Array);
    expect([...d.targets]).toEqual([0, 2, 1]);
    expect(d.features).toBe(x); // not copied
  });

  it('takes regression targets [N] and [N, k], and multi-label flags as bytes or floats', () => {
    const r1 = tensorDataset(x, new Float32Array([1, 2, 3]), { featureShape: [4], task: 'regression' });
    expect([r1.targetWidth, r1.classes]).toEqual([1, undefined]);
    const r2 = tensorDataset(x, new Float32Array(6), { featureShape: [4], task: 'regression' });
    expect(r2.targetWidth).toBe(2);
    const m = tensorDataset(x, new Uint8Array([1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0]), { featureShape: [3], task: 'multilabel' });
    expect([m.count, m.targetWidth, m.classes]).toEqual([4, 3, 3]);
    expect(m.targets).toBeInstanceOf(Float32Array);
  });

  it('allows the ignoreIndex label beside the classes, leaving it out of the inferred class count', () => {
    const d = tensorDataset(uniform(16, 3), Uint32Array.of(0, 255, 1, 2), { featureShape: [4], ignoreIndex: 255 });
    expect([d.classes, d.ignoreIndex]).toEqual([3, 255]);
    expect(tensorDataset(uniform(16, 3), Uint32Array.of(0, 255, 1, 2), { featureShape: [4], ignoreIndex: 255, classes: 3 }).classes).toBe(3);
  });

  const cases: [string, () => unknown, RegExp][] = [
    ['ignoreIndex on regression', () => tensorDataset(x, new Float32Array(3), { featureShape: [4], task: 'regression', ignoreIndex: 1 } as never), /ignoreIndex is for classification/],
    ['only ignored labels', () => tensorDataset(x, Uint32Array.of(9, 9, 9), { featureShape: [4], ignoreIndex: 9 }), /every label is the ignoreIndex 9/],
    ['negative ignoreIndex', () => tensorDataset(x, Uint32Array.of(0, 1, 1), { featureShape: [4], ignoreIndex: -100 }), /ignoreIndex -100 must be an integer in \[0, 2\^32\)/],
    ['featureShape missing', () => tensorDataset(x, new Uint32Array(3), {} as never), /featureShape undefined must be a non-empty list/],
    ['featureShape with 0', () => tensorDataset(x, new Uint32Array(3), { featureShape: [0] }), /featureShape \[0\]/],
    ['x not a multiple', () => tensorDataset(x, new Uint32Array(3), { featureShape: [5] }), /x has 12 values, not a positive multiple of featureShape \[5\]/],
    ['x a plain array', () => tensorDataset([1, 2] as never, new Uint32Array(1), { featureShape: [2] }), /x must be a Float32Array, Uint8Array or Uint32Array, got Array of 2/],
    ['x with NaN', () => tensorDataset(Float32Array.of(0, NaN, 1, 1), new Uint32Array(2), { featureShape: [2] }), /x\[1\] is NaN \(sample 0\)/],
    ['too few labels', () => tensorDataset(x, new Uint32Array(2), { featureShape: [4] }), /y has 2 labels for the 3 samples/],
    ['float labels for classification', () => tensorDataset(x, new Float32Array(3) as never, { featureShape: [4] }), /task: 'regression'/],
    ['label over classes', () => tensorDataset(x, Uint32Array.of(0, 5, 1), { featureShape: [4], classes: 3 }), /y\[1\] is 5, not below the 3 classes given/],
    ['outlier label', () => tensorDataset(uniform(40, 2), Uint32Array.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 255), { featureShape: [4] }), /label 255 at y\[9\] would make a 256-class model.*pass ignoreIndex: 255/],
    ['regression y length', () => tensorDataset(x, new Float32Array(4), { featureShape: [4], task: 'regression' }), /y has 4 values for the 3 samples/],
    ['regression y as bytes', () => tensorDataset(x, new Uint8Array(3) as never, { featureShape: [4], task: 'regression' }), /must be a Float32Array of targets/],
    ['regression y with Inf', () => tensorDataset(x, Float32Array.of(1, Infinity, 0), { featureShape: [4], task: 'regression' }), /y\[1\] is Infinity \(sample 1\)/],
    ['multi-label flag of 2', () => tensorDataset(x, Uint8Array.of(0, 1, 0, 2, 1, 1), { featureShape: [4], task: 'multilabel' }), /y\[3\] is 2 \(sample 1, label 1\); multi-label targets must be 0 or 1/],
    ['classes on regression', () => tensorDataset(x, new Float32Array(3), { featureShape: [4], task: 'regression', classes: 3 } as never), /classes is for classification/],
    ['normalisation on floats', () => tensorDataset(x, new Uint32Array(3), { featureShape: [4], normalisation: { mean: 0, std: 1 } }), /normalisation applies to Uint8Array features only/],
    ['zero std', () => tensorDataset(new Uint8Array(8), new Uint32Array(2), { featureShape: [4], normalisation: { mean: 0, std: 0 } }), /positive, finite std/],
    ['unknown task', () => tensorDataset(x, new Uint32Array(3), { featureShape: [4], task: 'ranking' as never }), /task 'ranking' must be/],
  ];
  it.each(cases)('refuses %s with a DatasetError naming the field', (_name, make, message) => {
    expect(make).toThrow(DatasetError);
    expect(make).toThrow(message);
  });
});

describe('tensorDataset on generated input', () => {
  const typed = fc.oneof(
    fc.array(fc.float(), { maxLength: 40 }).map((a) => Float32Array.from(a)),
    fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 40 }).map((a) => Uint8Array.from(a)),
    fc.array(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { maxLength: 40 }).map((a) => Uint32Array.from(a)),
  );
  const anything = fc.oneof(typed, fc.constantFrom(undefined, null, 3, 'x', [1, 2], {}), fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 6 }));
  const options = fc.record(
    {
      featureShape: fc.oneof(fc.array(fc.integer({ min: -1, max: 5 }), { maxLength: 3 }), fc.constantFrom(undefined, [2.5], 'abc')),
      task: fc.constantFrom(undefined, 'classification', 'regression', 'multilabel', 'other'),
      classes: fc.constantFrom(undefined, 0, 1, 3, 300, 1.5),
      ignoreIndex: fc.constantFrom(undefined, 0, 255, -1),
    },
    { requiredKeys: [] },
  );

  it('either makes a consistent dataset or throws a DatasetError, never another error', () => {
    fc.assert(
      fc.property(anything, anything, fc.oneof(options, fc.constantFrom(undefined, null)), (x, y, o) => {
        let d;
        try {
          d = tensorDataset(x as never, y as never, o as never);
        } catch (e) {
          expect(e).toBeInstanceOf(DatasetError);
          return;
        }
        const perSample = d.featureShape.reduce((a, b) => a * b, 1);
        expect(d.count * perSample).toBe(d.features.length);
        expect(d.targets.length).toBe(d.count * d.targetWidth);
        if (d.task === 'classification') {
          expect(d.targets.every((l) => l < d.classes! || l === d.ignoreIndex)).toBe(true);
        } else {
          expect(d.targets.every(Number.isFinite)).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

/** Gathers one batch starting at order[start] and reads x and y back. */
async function gather(d: TensorDataset, batch: number, start: number, order?: Uint32Array): Promise<{ x: ArrayBuffer; y: ArrayBuffer }> {
  const e = engine();
  const gpu = new GpuTensorDataset(e, d);
  const xWidth = d.features.length / d.count;
  const x = e.createStorage(batch * xWidth * 4, 'test x');
  const y = e.createStorage(batch * d.targetWidth * 4, 'test y');
  try {
    if (order) gpu.setOrder(order);
    const batcher = await gpu.batcher(batch, { buffer: x, offset: 0, size: x.size }, { buffer: y, offset: 0, size: y.size });
    const encoder = e.device.createCommandEncoder();
    batcher.encode(encoder, start);
    e.device.queue.submit([encoder.finish()]);
    const out = { x: await e.readBytes(x, x.size, 0), y: await e.readBytes(y, y.size, 0) };
    batcher.dispose();
    return out;
  } finally {
    gpu.dispose();
    e.buffers.destroy(x);
    e.buffers.destroy(y);
  }
}

describe('GpuTensorDataset gather', () => {
  const order = Uint32Array.of(4, 0, 6, 2, 1, 5, 3); // 7 samples, a batch of 5 from 4 wraps around

  function expectedRows(width: number, start: number, batch: number): number[] {
    const rows: number[] = [];
    for (let b = 0; b < batch; b++) rows.push(order[(start + b) % order.length]);
    return rows.flatMap((s) => Array.from({ length: width }, (_, j) => s * width + j));
  }

  it('copies f32 features [3, 5] and regression targets [2] bit for bit, wrapping round the order', async () => {
    const features = uniform(7 * 15, 3);
    features[17] = -0; // signs and tiny values pass unchanged
    features[18] = 1e-40;
    const targets = uniform(14, 4);
    const d = tensorDataset(features, targets, { featureShape: [3, 5], task: 'regression' });
    const out = await gather(d, 5, 4, order);
    expect(new Uint32Array(out.x)).toEqual(Uint32Array.from(expectedRows(15, 4, 5), (i) => new Uint32Array(features.buffer)[i]));
    expect(new Float32Array(out.y)).toEqual(Float32Array.from(expectedRows(2, 4, 5), (i) => targets[i]));
  });

  it('normalises u8 features of an odd width and copies u32 labels', async () => {
    const features = Uint8Array.from(integers(7 * 3, 256, 5));
    const labels = Uint32Array.of(0, 1, 2, 1, 0, 2, 1);
    const d = tensorDataset(features, labels, { featureShape: [3], normalisation: { mean: 0.25, std: 0.5 } });
    const out = await gather(d, 4, 2, order);
    const want = expectedRows(3, 2, 4).map((i) => (features[i] / 255 - 0.25) / 0.5);
    const got = new Float32Array(out.x);
    want.forEach((v, i) => expect(Math.abs(got[i] - v)).toBeLessThan(1e-6));
    expect([...new Uint32Array(out.y)]).toEqual(expectedRows(1, 2, 4).map((s) => labels[s]));
  });

  it('copies u32 features unchanged (ids above 2^24 stay exact) and multi-label flags', async () => {
    const features = Uint32Array.from({ length: 7 * 2 }, (_, i) => 0xfffffff0 - i * 977);
    const flags = Uint8Array.from(integers(7 * 3, 2, 6));
    const d = tensorDataset(features, flags, { featureShape: [2], task: 'multilabel' });
    const out = await gather(d, 7, 0);
    expect(new Uint32Array(out.x)).toEqual(features);
    expect(new Float32Array(out.y)).toEqual(Float32Array.from(flags));
  });

  it('refuses augmentation and too small batch buffers with a ShapeError', async () => {
    const e = engine();
    const d = new GpuTensorDataset(e, tensorDataset(uniform(8, 7), new Uint32Array(2), { featureShape: [4] }));
    const small = e.createStorage(16, 'small');
    try {
      const range = { buffer: small, offset: 0, size: 16 };
      await expect(d.batcher(2, range, range)).rejects.toThrow(/2 samples of 4 features need 8/);
      await expect(d.batcher(1, range, range, { augment: { shift: 2 } })).rejects.toThrow(ShapeError);
    } finally {
      d.dispose();
      e.buffers.destroy(small);
    }
  });
});
