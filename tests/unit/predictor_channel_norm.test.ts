import { describe, expect, it } from 'vitest';
import { resnetMetadata } from '../../src/cli/resnet.js';
import { distill } from '../../src/compress/distill.js';
import type { ImageDataset } from '../../src/data/dataset.js';
import { UNIT_RANGE } from '../../src/data/gpu_dataset.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { resnetConfig } from '../../src/models/resnet.js';
import { Conv2d } from '../../src/nn/conv.js';
import { Flatten, Linear, ReLU, Sequential } from '../../src/nn/layers.js';
import { Adam } from '../../src/optim/optimizers.js';
import { softmaxRows } from '../../src/train/metrics.js';
import { loadModel } from '../../src/train/predictor.js';
import { CheckpointError } from '../../src/train/safetensors.js';
import { Trainer } from '../../src/train/trainer.js';
import { useEngine } from '../helpers/engine.js';
import { integers } from '../helpers/random.js';

const engine = useEngine();

// 3 × 5 × 7: no side a multiple of a tile, channels planes of 35 bytes.
const SHAPE = [3, 5, 7] as const;
const PLANE = SHAPE[1] * SHAPE[2];
const PER_SAMPLE = SHAPE[0] * PLANE;
const N = 11;
const STATS = { mean: [0.12, 0.55, 0.83], std: [0.21, 0.34, 0.17] };
const model = () => new Sequential(new Conv2d(3, 4, 3, { padding: 1 }), ReLU(), new Flatten(), new Linear(4 * PLANE, 3));
const bytes = Uint8Array.from(integers(N * PER_SAMPLE, 256, 31));

/** The float inputs the model should see: (byte/255 − mean[c]) / std[c], c the channel plane of the byte. */
function byHand(b: Uint8Array, mean: readonly number[], std: readonly number[]): Float32Array {
  return Float32Array.from(b, (v, i) => {
    const c = Math.floor((i % PER_SAMPLE) / PLANE);
    return (v / 255 - mean[c]) / std[c];
  });
}

function images(count: number, seed: number, channelNormalisation?: ImageDataset['channelNormalisation']): ImageDataset {
  const labels = Uint8Array.from(integers(count, 3, seed + 1));
  return { images: Uint8Array.from(integers(count * PER_SAMPLE, 256, seed)), labels, count, height: SHAPE[1], width: SHAPE[2], channels: 3, classes: 3, channelNormalisation };
}

describe('Predictor per-channel normalisation', () => {
  it('normalises bytes per channel exactly as floats normalised by hand, and the scalar form as before', async () => {
    using trainer = new Trainer(engine(), { model: model(), inputShape: SHAPE, seed: 5 });
    using p = trainer.predictor({ normalisation: STATS });
    const expected = await p.predict(byHand(bytes, STATS.mean, STATS.std));
    expect(await p.predict(bytes)).toEqual(expected);
    expect(await p.predict(bytes, { batchSize: 4 })).toEqual(await p.predict(byHand(bytes, STATS.mean, STATS.std), { batchSize: 4 }));
    // One number for all channels: (byte/255 − 0.5)/0.25, the scalar form.
    using scalar = trainer.predictor({ normalisation: { mean: 0.5, std: 0.25 } });
    const scalarExpected = await scalar.predict(Float32Array.from(bytes, (v) => (v / 255 - 0.5) / 0.25));
    expect(await scalar.predict(bytes)).toEqual(scalarExpected);
    expect(scalarExpected).not.toEqual(expected);
    // A list mixed with a number: the number applies to every channel.
    using mixed = trainer.predictor({ normalisation: { mean: STATS.mean, std: 0.3 } });
    expect(await mixed.predict(bytes)).toEqual(await mixed.predict(byHand(bytes, STATS.mean, [0.3, 0.3, 0.3])));
  });

  it('refuses a bad normalisation at construction, naming the field, the lengths and inputShape, leaving nothing allocated', async () => {
    const e = engine();
    using trainer = new Trainer(e, { model: model(), inputShape: SHAPE, seed: 5 });
    const checkpoint = await trainer.checkpoint();
    await e.flush();
    const before = e.stats.liveBuffers;
    const load = (normalisation: unknown) => () => loadModel(e, checkpoint, model(), { inputShape: SHAPE, normalisation: normalisation as never });
    expect(load({ mean: [0.1, 0.2], std: 0.5 })).toThrow(ShapeError);
    expect(load({ mean: [0.1, 0.2], std: 0.5 })).toThrow(
      /^loadModel: normalisation\.mean \[0\.1, 0\.2\] has 2 values for inputShape \[3, 5, 7\], whose dim 0 gives 3 channels; give 3 values \(one per channel\) or one number for all$/,
    );
    expect(load({ mean: 0, std: [1, 0, 1] })).toThrow(/^loadModel: normalisation\.std \[1, 0, 1\] must be positive \(channel 1 has 0\)/);
    expect(load({ mean: 0, std: [1, Infinity, 1] })).toThrow(/^loadModel: normalisation\.std \[1, Infinity, 1\] must hold finite numbers/);
    expect(load({ mean: NaN, std: 1 })).toThrow(/^loadModel: normalisation\.mean NaN must hold finite numbers/);
    expect(load({ mean: '0.5', std: 1 })).toThrow(/^loadModel: normalisation\.mean must be a number or a list of one number per channel, got '0\.5'$/);
    expect(load(null)).toThrow(/^loadModel: normalisation must be an object \{ mean, std \}/);
    await e.flush();
    expect(e.stats.liveBuffers).toBe(before);
    expect(() => trainer.predictor({ normalisation: { mean: 0, std: [1, 1, 1, 1] } })).toThrow(/^Trainer\.predictor: normalisation\.std \[1, 1, 1, 1\] has 4 values for inputShape \[3, 5, 7\]/);
    expect(() => trainer.predictor({ normalisation: null as never })).toThrow(/^Trainer\.predictor: normalisation must be an object \{ mean, std \}/);
    // A flat sample has one channel: a list of one value, or an error.
    using flat = new Trainer(e, { model: new Linear(6, 2), inputShape: [6], seed: 1 });
    expect(() => flat.predictor({ normalisation: { mean: [0.1, 0.2, 0.3], std: 1 } })).toThrow(/mean \[0\.1, 0\.2, 0\.3\] has 3 values for inputShape \[6\], a flat sample of 1 channel; give 1 value/);
    using one = flat.predictor({ normalisation: { mean: [0.5], std: [0.25] } });
    using scalar = flat.predictor({ normalisation: { mean: 0.5, std: 0.25 } });
    const six = Uint8Array.of(0, 40, 99, 128, 201, 255);
    expect(await one.predict(six)).toEqual(await scalar.predict(six));
  });

  it("Trainer.predictor and Trainer.predict default to the last fit's per-channel statistics; an explicit normalisation wins", async () => {
    using trainer = new Trainer(engine(), { model: model(), inputShape: SHAPE, optimizer: new Adam({ lr: 0.01 }), seed: 6 });
    // Before any fit: byte/255 (TrainerOptions.normalisation absent).
    using early = trainer.predictor({ normalisation: UNIT_RANGE });
    expect(await trainer.predict(bytes, N)).toEqual(softmaxRows(await early.predict(Float32Array.from(bytes, (v) => v / 255)), 3));
    await trainer.fit(images(24, 40, STATS), { epochs: 1, batchSize: 8 });
    using p = trainer.predictor();
    expect(p.options.normalisation).toBe(STATS);
    const logits = await p.predict(byHand(bytes, STATS.mean, STATS.std));
    expect(await p.predict(bytes)).toEqual(logits);
    expect(await trainer.predict(bytes, N)).toEqual(softmaxRows(logits, 3));
    using explicit = trainer.predictor({ normalisation: UNIT_RANGE });
    expect(await explicit.predict(bytes)).toEqual(await early.predict(Float32Array.from(bytes, (v) => v / 255)));
    // A fit on data without channel statistics goes back to the trainer's own normalisation.
    await trainer.fit(images(24, 50), { epochs: 1, batchSize: 8 });
    expect(trainer.predictor().options.normalisation).toBeUndefined();
    expect(await trainer.predict(bytes, N)).toEqual(softmaxRows(await early.predict(Float32Array.from(bytes, (v) => v / 255)), 3));
  });

  it("a distilled student's predictor defaults to the images' per-channel statistics; a scalar normalisation beside them is refused before any GPU work", async () => {
    const e = engine();
    const train = images(24, 90, STATS);
    using teacher = new Trainer(e, { model: model(), inputShape: SHAPE, optimizer: new Adam({ lr: 0.01 }), seed: 10 });
    await teacher.fit(train, { epochs: 1, batchSize: 8 });
    using student = new Trainer(e, { model: model(), inputShape: SHAPE, optimizer: new Adam({ lr: 0.01 }), seed: 11 });
    await student.fit(images(16, 95), { epochs: 1, batchSize: 8 });
    expect(student.predictor().options.normalisation).toBeUndefined();
    await distill(e, train, { student, teacher, alpha: 0.5, temperature: 2, epochs: 1, batchSize: 8 });
    using p = student.predictor();
    expect(p.options.normalisation).toBe(STATS);
    expect(await p.predict(bytes)).toEqual(await p.predict(byHand(bytes, STATS.mean, STATS.std)));

    using scalarTeacher = new Trainer(e, { model: model(), inputShape: SHAPE, normalisation: { mean: 0.5, std: 0.25 }, seed: 12 });
    await e.flush();
    const before = e.stats.liveBuffers;
    await expect(distill(e, train, { student, teacher: scalarTeacher, alpha: 0.5, temperature: 2, epochs: 1, batchSize: 8 })).rejects.toThrow(
      /^distill: the images carry per-channel normalisation \(mean \[0\.12, 0\.55, 0\.83\]\), which both networks see, but the teacher normalises with \{ mean: 0\.5, std: 0\.25 \}; use a teacher without a normalisation option/,
    );
    await e.flush();
    expect(e.stats.liveBuffers).toBe(before);
  });

  it('loadModel uses the normalisation a ResNet CLI checkpoint records, unless one is given', async () => {
    const e = engine();
    using trainer = new Trainer(e, { model: model(), inputShape: SHAPE, seed: 7 });
    const train = images(6, 60, STATS);
    const checkpoint = await trainer.checkpoint(resnetMetadata(resnetConfig({ depth: 8, width: 4, classes: 3 }), { train, test: train }));
    using recorded = loadModel(e, checkpoint, model(), { inputShape: SHAPE });
    expect(recorded.options.normalisation).toEqual(STATS);
    const logits = await recorded.predict(byHand(bytes, STATS.mean, STATS.std));
    expect(await recorded.predict(bytes)).toEqual(logits);
    using fromTrainer = trainer.predictor({ normalisation: STATS });
    expect(await fromTrainer.predict(bytes)).toEqual(logits);
    using given = loadModel(e, checkpoint, model(), { inputShape: SHAPE, normalisation: { mean: 0.5, std: 0.5 } });
    expect(await given.predict(bytes)).toEqual(await given.predict(Float32Array.from(bytes, (v) => (v / 255 - 0.5) / 0.5)));
    expect(await given.predict(bytes)).not.toEqual(logits);

    // A file recording none (or metadata not of this engine) gives byte/255.
    using plain = loadModel(e, await trainer.checkpoint({ config: 'not json' }), model(), { inputShape: SHAPE });
    expect(await plain.predict(bytes)).toEqual(await plain.predict(Float32Array.from(bytes, (v) => v / 255)));
    // A recorded normalisation that does not fit: a clear error, and an explicit one still loads.
    const twoChannels = await trainer.checkpoint({ config: JSON.stringify({ normalisation: { mean: [0.1, 0.2], std: [0.3, 0.3] } }) });
    expect(() => loadModel(e, twoChannels, model(), { inputShape: SHAPE })).toThrow(
      /^loadModel: checkpoint's metadata config\.normalisation\.mean \[0\.1, 0\.2\] has 2 values for inputShape \[3, 5, 7\], whose dim 0 gives 3 channels; give 3 values \(one per channel\) or one number for all; or pass normalisation to loadModel to use another$/,
    );
    loadModel(e, twoChannels, model(), { inputShape: SHAPE, normalisation: STATS }).dispose();
    const malformed = await trainer.checkpoint({ config: JSON.stringify({ normalisation: 'imagenet' }) });
    expect(() => loadModel(e, malformed, model(), { inputShape: SHAPE, source: 'w.safetensors' })).toThrow(CheckpointError);
    expect(() => loadModel(e, malformed, model(), { inputShape: SHAPE, source: 'w.safetensors' })).toThrow(/^w\.safetensors: metadata config\.normalisation "imagenet" must be \{ mean, std \}/);
  });
  it("Trainer.load makes a ResNet CLI checkpoint's recorded normalisation predictor()'s default, below an explicit one and a later fit", async () => {
    const e = engine();
    using source = new Trainer(e, { model: model(), inputShape: SHAPE, seed: 8 });
    const train = images(6, 70, STATS);
    const checkpoint = await source.checkpoint(resnetMetadata(resnetConfig({ depth: 8, width: 4, classes: 3 }), { train, test: train }));
    using trainer = new Trainer(e, { model: model(), inputShape: SHAPE, optimizer: new Adam({ lr: 0.01 }), seed: 9 });
    trainer.load(checkpoint, 'resnet.safetensors');

    using p = trainer.predictor();
    expect(p.options.normalisation).toEqual(STATS);
    using sourceP = source.predictor({ normalisation: STATS });
    const logits = await sourceP.predict(byHand(bytes, STATS.mean, STATS.std));
    expect(await p.predict(bytes)).toEqual(logits);
    expect(await trainer.predict(bytes, N)).toEqual(softmaxRows(logits, 3));
    using explicit = trainer.predictor({ normalisation: UNIT_RANGE });
    expect(explicit.options.normalisation).toBe(UNIT_RANGE);
    expect(await explicit.predict(bytes)).toEqual(await explicit.predict(Float32Array.from(bytes, (v) => v / 255)));

    // A later fit decides (its data has no statistics here: the trainer's own normalisation), until the next load recording one.
    await trainer.fit(images(16, 80), { epochs: 1, batchSize: 8 });
    expect(trainer.predictor().options.normalisation).toBeUndefined();
    trainer.load(checkpoint, 'resnet.safetensors');
    expect(trainer.predictor().options.normalisation).toEqual(STATS);
    // A file recording none leaves the default as it was.
    trainer.load(await source.checkpoint({ config: 'not json' }));
    expect(trainer.predictor().options.normalisation).toEqual(STATS);

    // A recorded normalisation that does not fit, or is malformed, refuses the whole load.
    const before = await trainer.predict(bytes, N);
    const twoChannels = await source.checkpoint({ config: JSON.stringify({ normalisation: { mean: [0.1, 0.2], std: [0.3, 0.3] } }) });
    expect(() => trainer.load(twoChannels, 'two.safetensors')).toThrow(ShapeError);
    expect(() => trainer.load(twoChannels, 'two.safetensors')).toThrow(
      /^Trainer\.load: two\.safetensors's metadata config\.normalisation\.mean \[0\.1, 0\.2\] has 2 values for inputShape \[3, 5, 7\], whose dim 0 gives 3 channels; .*; the file does not belong to this model/,
    );
    const malformed = await source.checkpoint({ config: JSON.stringify({ normalisation: 'imagenet' }) });
    expect(() => trainer.load(malformed, 'w.safetensors')).toThrow(CheckpointError);
    expect(() => trainer.load(malformed, 'w.safetensors')).toThrow(/^w\.safetensors: metadata config\.normalisation "imagenet" must be \{ mean, std \}.*; the file does not belong to this model/);
    expect(await trainer.predict(bytes, N)).toEqual(before);
    expect(trainer.predictor().options.normalisation).toEqual(STATS);
  });
});
