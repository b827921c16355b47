import { describe, expect, it } from 'vitest';
import type { ImageDataset } from '../../src/data/dataset.js';
import { mlpDiscriminator, mlpGenerator } from '../../src/models/gan.js';
import { Linear, ReLU, Sequential } from '../../src/nn/layers.js';
import { Adam } from '../../src/optim/optimizers.js';
import { GanTrainer } from '../../src/train/gan.js';
import { CheckpointError, decodeSafetensors, encodeSafetensors, type NamedTensor } from '../../src/train/safetensors.js';
import { Trainer } from '../../src/train/trainer.js';
import { useEngine } from '../helpers/engine.js';
import { rng } from '../helpers/random.js';

const engine = useEngine();

/** 24 random 4×4 images in 3 classes. */
function data(): ImageDataset {
  const next = rng(3);
  const count = 24;
  return { images: Uint8Array.from({ length: count * 16 }, () => Math.floor(next() * 256)), labels: Uint8Array.from({ length: count }, (_, i) => i % 3), count, height: 4, width: 4, classes: 3 };
}
const train = data();
const make = (seed = 1) => new Trainer(engine(), { model: new Sequential(new Linear(16, 8), ReLU(), new Linear(8, 3)), inputShape: [16], classes: 3, optimizer: new Adam({ lr: 0.01 }), seed });
const weights = async (t: Trainer) => Promise.all(t.store.stateDict.map(async (p) => [...(await t.store.read(p.name))]));
const optimizerState = async (t: Trainer) => [...(await t.store.readState('exp_avg'))];
const step = { epochs: 1, batchSize: train.count };

/** The same tensors and metadata, re-encoded: a file as another tool (or an attacker) might write. */
function rewrite(bytes: Uint8Array, change: (tensors: NamedTensor[], metadata: Record<string, string>) => void): Uint8Array {
  const { tensors, metadata } = decodeSafetensors(bytes);
  const list = [...tensors.values()];
  change(list, metadata);
  return encodeSafetensors(list, metadata);
}

describe('checkpoint pairs', () => {
  it('write the same run id and step into the weights and the optimizer state', async () => {
    const a = make();
    await a.fit(train, { ...step, epochs: 2 });
    const w = decodeSafetensors(await a.checkpoint({ model: 'test' })).metadata;
    const s = decodeSafetensors(await a.optimizerCheckpoint()).metadata;
    expect(w).toMatchObject({ format: 'pt', model: 'test', step: '2' });
    expect(w.run_id).toMatch(/^[0-9a-f]{32}$/);
    expect([s.run_id, s.step]).toEqual([w.run_id, w.step]);
    const b = make();
    expect(decodeSafetensors(await b.checkpoint()).metadata).toMatchObject({ step: '0' });
    expect(decodeSafetensors(await b.checkpoint()).metadata.run_id).not.toBe(w.run_id);
    await expect(a.checkpoint({ step: '9' })).rejects.toThrow(new CheckpointError("checkpoint metadata: 'step' is set by the writer; choose another key"));
    for (const t of [a, b]) t.dispose();
  });

  it('refuse optimizer state from another run or step after the weights, changing nothing', async () => {
    const a = make();
    await a.fit(train, step);
    const [wA1, sA1] = [await a.checkpoint(), await a.optimizerCheckpoint()];
    await a.fit(train, step);
    const sA2 = await a.optimizerCheckpoint();
    const b = make(2);
    await b.fit(train, step);
    const sB1 = await b.optimizerCheckpoint();
    const runA = decodeSafetensors(wA1).metadata.run_id;
    const runB = decodeSafetensors(sB1).metadata.run_id;

    const r = make(3);
    r.load(wA1);
    const before = await optimizerState(r);
    expect(() => r.loadOptimizer(sB1)).toThrow(
      new CheckpointError(
        `the optimizer file (run_id ${runB}, step 1) was not saved with the weights file loaded before it (run_id ${runA}, step 1); ` +
          'load the weights and the optimizer state that one checkpoint wrote together',
      ),
    );
    expect(() => r.loadOptimizer(sA2)).toThrow(/the optimizer file \(run_id .*, step 2\) was not saved with the weights file loaded before it \(run_id .*, step 1\)/);
    expect(r.store.optimizerSteps).toBe(0);
    expect(await optimizerState(r)).toEqual(before);
    // The matching file loads; so does the other order.
    r.loadOptimizer(sA1);
    expect(r.store.optimizerSteps).toBe(1);
    // The whole pair loaded: r resumes run A, and its checkpoints say so.
    expect(decodeSafetensors(await r.checkpoint()).metadata).toMatchObject({ run_id: runA, step: '1' });
    const o = make(4);
    o.loadOptimizer(sA1);
    expect(() => o.load(rewrite(wA1, (_, m) => (m.run_id = runB)))).toThrow(/the weights file \(run_id .*, step 1\) was not saved with the optimizer file loaded before it/);
    o.load(wA1);
    expect(await weights(o)).toEqual(await weights(r));
    expect(decodeSafetensors(await o.optimizerCheckpoint()).metadata.run_id).toBe(runA);
    // Weights alone (fine-tuning from them) start a run of their own.
    const f = make(5);
    f.load(wA1);
    expect(decodeSafetensors(await f.checkpoint()).metadata.run_id).not.toBe(runA);
    f.dispose();
    for (const t of [a, b, r, o]) t.dispose();
  });

  it('still load files without run id or step, as PyTorch writes them', async () => {
    const a = make();
    await a.fit(train, step);
    const strip = (m: Record<string, string>) => {
      delete m.run_id;
      delete m.step;
    };
    const w = rewrite(await a.checkpoint(), (_, m) => strip(m));
    const s = await a.optimizerCheckpoint();
    const r = make(2);
    r.load(w);
    r.loadOptimizer(s);
    expect(await weights(r)).toEqual(await weights(a));
    for (const t of [a, r]) t.dispose();
  });
});

describe('loading is all or nothing', () => {
  it('leaves every parameter unchanged when a later tensor is bad', async () => {
    const a = make();
    await a.fit(train, step);
    const good = await a.checkpoint();
    const r = make(2);
    const before = await weights(r);
    const names = r.store.stateDict.map((p) => p.name);
    const last = names[names.length - 1];
    // A NaN in the last tensor, an infinity in the last, offsets of the last overlapping the one before.
    const nan = rewrite(good, (ts) => (ts.find((t) => t.name === last)!.data[1] = NaN));
    const inf = rewrite(good, (ts) => (ts.find((t) => t.name === last)!.data[0] = -Infinity));
    const overlapping = overlapLast(good);
    for (const [bytes, message] of [
      [nan, new RegExp(`weights: '${last.replace('.', '\\.')}' holds NaN at index \\[1\\]`)],
      [inf, /holds -Infinity at index \[0\]/],
      [overlapping, /data_offsets \[\d+, \d+\] overlap/],
    ] as const) {
      expect(() => r.load(bytes)).toThrow(CheckpointError);
      expect(() => r.load(bytes)).toThrow(message);
      expect(await weights(r)).toEqual(before);
    }
    r.load(good);
    expect(await weights(r)).toEqual(await weights(a));
    for (const t of [a, r]) t.dispose();
  });

  it('leaves the optimizer state unchanged when the state file is bad', async () => {
    const a = make();
    await a.fit(train, step);
    const names = a.store.list.map((p) => `${p.name}.exp_avg_sq`);
    const bad = rewrite(await a.optimizerCheckpoint(), (ts) => (ts.find((t) => t.name === names[names.length - 1])!.data[0] = NaN));
    const r = make(2);
    const before = await optimizerState(r);
    expect(() => r.loadOptimizer(bad, 'w.optimizer.safetensors')).toThrow(/^w\.optimizer\.safetensors: '.*exp_avg_sq' holds NaN at index \[0/);
    expect([await optimizerState(r), r.store.optimizerSteps]).toEqual([before, 0]);
    for (const t of [a, r]) t.dispose();
  });
});

describe('GAN checkpoints', () => {
  it('carry the generator run id and step', async () => {
    const gan = new GanTrainer(engine(), {
      generator: mlpGenerator(4, [8], 16),
      discriminator: mlpDiscriminator(16, [8]),
      latent: 4,
      pixels: 16,
      optimizerG: new Adam({ lr: 1e-3 }),
      optimizerD: new Adam({ lr: 1e-3 }),
    });
    const m = decodeSafetensors(await gan.generatorCheckpoint()).metadata;
    expect(m).toMatchObject({ format: 'pt', model: 'generator', step: '0' });
    expect(m.run_id).toMatch(/^[0-9a-f]{32}$/);
    gan.dispose();
  });
});

/** The file with the last tensor's data offsets moved 4 bytes back, over the tensor before it. */
function overlapLast(bytes: Uint8Array): Uint8Array {
  const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  const last = Object.entries(header).filter(([k]) => k !== '__metadata__').sort(([, a], [, b]) => (a as { data_offsets: number[] }).data_offsets[0] - (b as { data_offsets: number[] }).data_offsets[0]).pop()![1] as { data_offsets: number[] };
  last.data_offsets = last.data_offsets.map((o) => o - 4);
  const json = new TextEncoder().encode(JSON.stringify(header));
  const data = bytes.subarray(8 + headerLength, bytes.length - 4);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}
