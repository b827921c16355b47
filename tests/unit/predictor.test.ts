import { beforeAll, describe, expect, it } from 'vitest';
import { tensorDataset } from '../../src/data/tensor_dataset.js';
import { DisposedError, ShapeError } from '../../src/gpu/errors.js';
import { Dropout } from '../../src/nn/dropout.js';
import { Linear, ReLU, Sequential } from '../../src/nn/layers.js';
import { BatchNorm1d } from '../../src/nn/normalization.js';
import { Adam } from '../../src/optim/optimizers.js';
import { argmaxRows, softmaxRows } from '../../src/train/metrics.js';
import { loadModel } from '../../src/train/predictor.js';
import { CheckpointError, decodeSafetensors } from '../../src/train/safetensors.js';
import { classificationEvaluation } from '../../src/train/task_metrics.js';
import { Trainer } from '../../src/train/trainer.js';
import { expectClose } from '../helpers/compare.js';
import { useEngine } from '../helpers/engine.js';
import { integers, uniform } from '../helpers/random.js';

const engine = useEngine();

/** BatchNorm and Dropout make evaluation mode matter: running statistics, and no dropout. */
const model = () => new Sequential(new Linear(5, 7), new BatchNorm1d(7), ReLU(), new Dropout(0.5), new Linear(7, 3));
const N = 37; // divisible by none of the batch sizes below

/** The model's forward in evaluation mode, in float64, from its state_dict. */
function referenceForward(weights: Map<string, Float32Array>, x: ArrayLike<number>): Float64Array {
  const w = (name: string) => weights.get(name)!;
  const linear = (input: Float64Array, out: number, inn: number, prefix: string) => {
    const y = new Float64Array(N * out);
    for (let n = 0; n < N; n++) {
      for (let o = 0; o < out; o++) {
        let s = w(`${prefix}.bias`)[o];
        for (let i = 0; i < inn; i++) s += input[n * inn + i] * w(`${prefix}.weight`)[o * inn + i];
        y[n * out + o] = s;
      }
    }
    return y;
  };
  const h = linear(Float64Array.from(x), 7, 5, '0');
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < 7; c++) {
      const normalised = (h[n * 7 + c] - w('1.running_mean')[c]) / Math.sqrt(w('1.running_var')[c] + 1e-5);
      h[n * 7 + c] = Math.max(0, normalised * w('1.weight')[c] + w('1.bias')[c]);
    }
  }
  return linear(h, 3, 7, '4');
}

let trainer: Trainer;
let checkpoint: Uint8Array;
const x = uniform(N * 5, 21, -2, 2);
const labels = integers(N, 3, 22);

beforeAll(async () => {
  trainer = new Trainer(engine(), { model: model(), inputShape: [5], optimizer: new Adam({ lr: 0.01 }), seed: 4 });
  // Training moves the weights and the running statistics away from their initial values.
  await trainer.fit(tensorDataset(uniform(60 * 5, 23, -2, 2), integers(60, 3, 24), { featureShape: [5] }), { epochs: 2, batchSize: 20 });
  checkpoint = await trainer.checkpoint();
});

describe('Predictor', () => {
  it('matches a float64 forward in evaluation mode, for batch sizes that do not divide the sample count', async () => {
    const weights = new Map([...decodeSafetensors(checkpoint).tensors].map(([k, t]) => [k, t.data]));
    expect([...weights.get('1.running_mean')!].some((v) => v !== 0)).toBe(true);
    const expected = referenceForward(weights, x);
    const p = trainer.predictor();
    try {
      expect(p.outputShape).toEqual([3]);
      const whole = await p.predict(x);
      expectClose(whole, expected, { atol: 1e-5, rtol: 1e-5 }, 'predict');
      for (const batchSize of [1, 8, 10, 36]) {
        const batched = await p.predict(x, { batchSize });
        expectClose(batched, expected, { atol: 1e-5, rtol: 1e-5 }, `predict batch ${batchSize}`);
      }
      expect(await p.predict(x)).toEqual(whole); // no dropout, no state change between calls
      expect(await p.predictClasses(x, { batchSize: 10 })).toEqual(argmaxRows(await p.predict(x, { batchSize: 10 }), 3));
    } finally {
      p.dispose();
    }
  });

  it("gives the trainer's own outputs bit for bit: evaluate, predict, and a loaded copy of its checkpoint", async () => {
    const p = trainer.predictor();
    const loaded = loadModel(engine(), checkpoint, model(), { inputShape: [5] });
    try {
      const logits = await p.predict(x);
      expect(await loaded.predict(x)).toEqual(logits);
      // evaluate runs its own forward plan over all 37 samples; its float64 scores of the logits agree exactly.
      const evaluation = await trainer.evaluate(tensorDataset(x, labels, { featureShape: [5], classes: 3 }));
      expect(evaluation).toEqual(classificationEvaluation(logits, labels, 3, undefined));
      // Bytes are normalised as the trainer's options say (UNIT_RANGE: byte/255), as Trainer.predict does.
      const bytes = Uint8Array.from(integers(N * 5, 256, 25));
      const fromBytes = await p.predict(bytes);
      expect(fromBytes).toEqual(await p.predict(Float32Array.from(bytes, (v) => v / 255)));
      expect(await trainer.predict(bytes, N)).toEqual(softmaxRows(fromBytes, 3));
    } finally {
      p.dispose();
      loaded.dispose();
    }
  });

  it('keeps memory flat over repeated predict calls, serves concurrent calls in order, and frees everything on dispose', async () => {
    const e = engine();
    const before = e.stats.liveBuffers;
    const p = loadModel(e, checkpoint, model(), { inputShape: [5] });
    // No optimizer state: the store holds parameters, gradients and the running statistics only.
    expect(p.store.bytes).toBe(2 * p.store.length * 4 + p.store.bufferStorage.size);
    const first = await p.predict(x, { batchSize: 10 });
    const warm = e.stats;
    for (let i = 0; i < 20; i++) await p.predict(x, { batchSize: 10 });
    expect(e.stats.liveBuffers).toBe(warm.liveBuffers);
    expect(e.stats.liveBytes).toBe(warm.liveBytes);
    // Concurrent first calls at a new batch size: one plan is compiled, used by both, and freed below.
    const other = uniform(N * 5, 26);
    const [a, b] = await Promise.all([p.predict(x, { batchSize: 9 }), p.predict(other, { batchSize: 9 })]);
    expectClose(a, first, { atol: 1e-6, rtol: 1e-6 }, 'batch 9');
    expect(b).toEqual(await p.predict(other, { batchSize: 9 }));
    // Calls of ever new sizes keep at most 8 plans: the least recently used are freed.
    for (let n = 1; n <= 8; n++) await p.predict(x.subarray(0, n * 5));
    const eight = e.stats.liveBuffers;
    for (let n = 11; n <= 16; n++) await p.predict(x.subarray(0, n * 5));
    expect(e.stats.liveBuffers).toBe(eight);
    p.dispose();
    await expect(p.predict(x)).rejects.toThrow(DisposedError);
    await e.flush();
    expect(e.stats.liveBuffers).toBe(before);
  });

  it('refuses bad input with a ShapeError and another model’s checkpoint with a CheckpointError, leaving nothing allocated', async () => {
    const e = engine();
    const before = e.stats.liveBuffers;
    const other = new Sequential(new Linear(5, 4), ReLU(), new Linear(4, 3));
    expect(() => loadModel(e, checkpoint, other, { inputShape: [5] })).toThrow(CheckpointError);
    expect(() => loadModel(e, checkpoint, new Sequential(new Linear(5, 4), ReLU(), new Linear(4, 3)), { inputShape: [5] })).toThrow(
      /^loadModel: checkpoint was not saved from this model \(Sequential[\s\S]*'0.weight': checkpoint has \[7, 5\], model needs \[4, 5\][\s\S]*unexpected '1.running_mean'[\s\S]*Load it into the model it was saved from/,
    );
    expect(() => loadModel(e, checkpoint, model(), { inputShape: [6] })).toThrow(ShapeError);
    expect(() => loadModel(e, checkpoint, model(), { inputShape: [] })).toThrow(/inputShape \[\] must be a non-empty list of positive integers/);
    expect(() => loadModel(e, checkpoint, model(), undefined as never)).toThrow(/^loadModel: options must be an object with inputShape/);
    expect(() => loadModel(e, 'w.safetensors' as never, model(), { inputShape: [5] })).toThrow(CheckpointError);
    await e.flush();
    expect(e.stats.liveBuffers).toBe(before);
    using p = loadModel(e, checkpoint, model(), { inputShape: [5] });
    await expect(p.predict(new Float32Array(12))).rejects.toThrow(/^predict: x has 12 values, not a positive multiple of inputShape \[5\] = 5/);
    await expect(p.predict(x, { batchSize: 0 })).rejects.toThrow(/batchSize 0 must be a positive integer/);
    await expect(p.predict([1, 2, 3, 4, 5] as never)).rejects.toThrow(/x must be a Float32Array, Uint8Array or Uint32Array, got Array/);
  });

  it("is disposed with the trainer that made it", async () => {
    const t = new Trainer(engine(), { model: model(), inputShape: [5], seed: 1 });
    const p = t.predictor();
    await p.predict(x);
    t.dispose();
    await expect(p.predict(x)).rejects.toThrow(DisposedError);
    expect(() => t.predictor()).toThrow(DisposedError);
  });
});
