import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeQuantizedSafetensors, quantizeStateDict } from '../../src/compress/quantize.js';
import { encodeIdx } from '../../src/data/idx.js';
import { IDX_FILES } from '../../src/data/idx_files.js';
import { ParameterStore } from '../../src/graph/params.js';
import { mlpGenerator } from '../../src/models/gan.js';
import { mnistCnn, mnistMlp } from '../../src/models/mnist.js';
import { charTransformer, checkTransformerConfig } from '../../src/models/transformer.js';
import { resnet } from '../../src/models/resnet.js';
import { transformerMetadata } from '../../src/train/text_checkpoint.js';
import type { Module } from '../../src/nn/module.js';
import { decodeSafetensors, encodeSafetensors } from '../../src/train/safetensors.js';
import { runCli } from '../helpers/cli.js';
import { createEngine, type Engine } from '../../src/gpu/engine.js';
import { MemoryTuneStore } from '../../src/gpu/autotune.js';
import { engineForward, maxAbsDiff, onnxForward, randomWeights } from '../helpers/onnx.js';
import { rng, uniform } from '../helpers/random.js';

/**
 * An engine for the comparisons, made after the CLI's run has closed its own and closed before the
 * next: one Dawn device at a time in this process, as when the CLI runs alone.
 */
async function withEngine<T>(use: (engine: Engine) => Promise<T>): Promise<T> {
  const engine = await createEngine({ autotune: false, tuneStore: new MemoryTuneStore(), log: () => {} });
  try {
    return await use(engine);
  } finally {
    await engine.close();
  }
}
const dir = mkdtempSync(join(tmpdir(), 'onnx-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
// The CLI's runs keep their kernel choices here rather than in the user's cache.
process.env.WEBGPU_DL_TUNE_CACHE = join(dir, 'autotune.json');

/** A tiny 2-class IDX dataset of side×side images in `folder`: the class is which half is bright. */
function writeDataset(folder: string, side: number): string {
  mkdirSync(folder, { recursive: true });
  const write = (count: number, images: string, labels: string) => {
    const next = rng(count + side);
    const px = side * side;
    const pixels = Uint8Array.from({ length: count * px }, (_, k) => (Math.floor((k % px) / (px / 2)) === Math.floor(k / px) % 2 ? 200 : 0) + Math.floor(next() * 50));
    writeFileSync(join(folder, images), encodeIdx([count, side, side], pixels));
    writeFileSync(join(folder, labels), encodeIdx([count], Uint8Array.from({ length: count }, (_, i) => i % 2)));
  };
  write(40, IDX_FILES.trainImages, IDX_FILES.trainLabels);
  write(10, IDX_FILES.testImages, IDX_FILES.testLabels);
  return folder;
}

const mlpData = writeDataset(join(dir, 'mlp-data'), 10);
const cnnData = writeDataset(join(dir, 'cnn-data'), 12);

/** Trains for one epoch with the CLI and returns the weights file. */
async function train(name: string, args: string[]): Promise<string> {
  const out = join(dir, `${name}.safetensors`);
  const r = await runCli(['train', '--epochs', '1', '--batch', '20', '--json', '--out', out, ...args]);
  expect(r.status, r.err.join('\n')).toBe(0);
  return out;
}

/** The weights file loaded into `model`, run by the engine and by ONNX Runtime on the same random batch of 3. */
async function compare(model: Module, weights: Uint8Array, onnxFile: string, inputShape: readonly number[]): Promise<number> {
  return withEngine(async (engine) => {
    const store = new ParameterStore(engine);
    try {
      model.register(store);
      for (const t of decodeSafetensors(weights).tensors.values()) store.write(t.name, t.data);
      const x = uniform(3 * inputShape.reduce((a, b) => a * b, 1), 5, 0, 1);
      const expected = await engineForward(engine, model, store, inputShape, 3, x);
      const got = await onnxForward(new Uint8Array(readFileSync(onnxFile)), inputShape, 3, x);
      return maxAbsDiff(got.data, expected);
    } finally {
      store.dispose();
    }
  });
}

/** An MLP checkpoint for 10×10 images and 2 classes, as train writes it (model recorded), with random weights; no GPU. */
function mlpCheckpoint(name: string): string {
  const store = new ParameterStore(undefined as never);
  mnistMlp([256, 256], 100, 2).register(store);
  const file = join(dir, name);
  writeFileSync(file, encodeSafetensors(store.stateDict.map((p, i) => ({ name: p.name, shape: p.shape, data: uniform(p.size, 50 + i, -0.1, 0.1) })), { model: 'mlp' }));
  return file;
}

describe('webgpu-dl export --format onnx', () => {
  it('exports an MLP checkpoint from a tiny run; the model comes from its metadata, the sizes from its shapes', async () => {
    const weights = await train('mlp', ['--data', mlpData]);
    const out = join(dir, 'mlp.onnx');
    const r = await runCli(['export', '--weights', weights, '--format', 'onnx', '--out', out]);
    expect(r.status, r.err.join('\n')).toBe(0);
    expect(r.out).toEqual([expect.stringMatching(/^webgpu-dl: mlp exported to .*mlp\.onnx \(ONNX opset 17, .* KiB; input 'input' \[N, 100\], output 'output'\)$/)]);
    const err = await compare(mnistMlp([256, 256], 100, 2), new Uint8Array(readFileSync(weights)), out, [100]);
    expect(err).toBeLessThanOrEqual(1e-4);
  });

  it('exports a CNN checkpoint on 12×12 images, and the GAN generator (from --model gan where the metadata is gone)', async () => {
    const cnn = await train('cnn', ['--model', 'cnn', '--data', cnnData]);
    const cnnOut = join(dir, 'cnn.onnx');
    expect((await runCli(['export', '--weights', cnn, '--format', 'onnx', '--out', cnnOut, '--opset', '13'])).status).toBe(0);
    expect(await compare(mnistCnn([12, 12], 2), new Uint8Array(readFileSync(cnn)), cnnOut, [1, 12, 12])).toBeLessThanOrEqual(1e-4);

    const gan = await train('gan', ['--model', 'gan', '--data', mlpData]);
    expect(decodeSafetensors(new Uint8Array(readFileSync(gan))).metadata.model).toBe('generator');
    // The same tensors without metadata, as a PyTorch state_dict saved with safetensors would be.
    const bare = join(dir, 'bare-generator.safetensors');
    writeFileSync(bare, encodeSafetensors([...decodeSafetensors(new Uint8Array(readFileSync(gan))).tensors.values()]));
    const ganOut = join(dir, 'generator.onnx');
    const refused = await runCli(['export', '--weights', bare, '--format', 'onnx', '--out', ganOut]);
    expect(refused.err).toEqual([`webgpu-dl: --weights ${bare} does not record its model; give --model mlp, cnn, gan or resnet`]);
    expect(refused.status).toBe(2);
    const r = await runCli(['export', '--weights', bare, '--format', 'onnx', '--out', ganOut, '--model', 'gan']);
    expect(r.status, r.err.join('\n')).toBe(0);
    expect(r.out[0]).toMatch(/generator exported to .* input 'input' \[N, 100\]/);
    expect(await compare(mlpGenerator(100, [256, 512], 100), new Uint8Array(readFileSync(gan)), ganOut, [100])).toBeLessThanOrEqual(1e-4);
  });

  it('exports a character transformer, rebuilt from the configuration its checkpoint records, taking int64 token ids', async () => {
    const config = checkTransformerConfig({ vocab: 5, context: 4, layers: 1, heads: 2, dim: 8 });
    const model = charTransformer(config);
    await withEngine(async (engine) => {
      const { store, tensors } = randomWeights(engine, model, 12);
      try {
        const weights = join(dir, 'transformer.safetensors');
        writeFileSync(weights, encodeSafetensors(tensors, transformerMetadata(config, ['a', 'b', 'c', 'd', ' '])));
        const out = join(dir, 'transformer.onnx');
        const r = await runCli(['export', '--weights', weights, '--format', 'onnx', '--out', out]);
        expect(r.status, r.err.join('\n')).toBe(0);
        expect(r.out[0]).toMatch(/transformer exported to .* input 'input' \[N, 4\] of int64 token ids/);
        const ids = Uint32Array.of(0, 1, 2, 3, 4, 4, 2, 0);
        const expected = await engineForward(engine, model, store, [4], 2, ids);
        const got = await onnxForward(new Uint8Array(readFileSync(out)), [4], 2, ids);
        expect(got.dims).toEqual([2, 4, 5]);
        expect(maxAbsDiff(got.data, expected)).toBeLessThanOrEqual(1e-4);
      } finally {
        store.dispose();
      }
    });
  });

  it('exports a ResNet state_dict given --model resnet, its depth, width, classes and channels from the shapes', async () => {
    const model = resnet({ depth: 8, width: 4, classes: 3, channels: 2 });
    await withEngine(async (engine) => {
      const { store, tensors } = randomWeights(engine, model, 13);
      try {
        const weights = join(dir, 'resnet.safetensors');
        writeFileSync(weights, encodeSafetensors(tensors));
        const out = join(dir, 'resnet.onnx');
        const r = await runCli(['export', '--weights', weights, '--format', 'onnx', '--out', out, '--model', 'resnet']);
        expect(r.status, r.err.join('\n')).toBe(0);
        expect(r.out[0]).toMatch(/resnet exported to .* input 'input' \[N, 2, 32, 32\]/);
        const x = uniform(2 * 2 * 32 * 32, 14, 0, 1);
        const expected = await engineForward(engine, model, store, [2, 32, 32], 2, x);
        const got = await onnxForward(new Uint8Array(readFileSync(out)), [2, 32, 32], 2, x);
        expect(got.dims).toEqual([2, 3]);
        expect(maxAbsDiff(got.data, expected)).toBeLessThanOrEqual(1e-4);
      } finally {
        store.dispose();
      }
    });
  });

  it('exports an int8 checkpoint as int8 with DequantizeLinear, or as f32 with --dequantize, with the same outputs', async () => {
    const weights = decodeSafetensors(new Uint8Array(readFileSync(mlpCheckpoint('mlp-for-int8.safetensors'))));
    const q = quantizeStateDict(weights.tensors.values());
    const file = join(dir, 'int8.safetensors');
    writeFileSync(file, encodeQuantizedSafetensors(q, { model: 'mlp' }));
    const [qdq, f32] = [join(dir, 'int8.onnx'), join(dir, 'f32.onnx')];
    expect((await runCli(['export', '--weights', file, '--format', 'onnx', '--out', qdq])).status).toBe(0);
    expect((await runCli(['export', '--weights', file, '--format', 'onnx', '--out', f32, '--dequantize'])).status).toBe(0);
    expect(readFileSync(qdq).byteLength).toBeLessThan(0.3 * readFileSync(f32).byteLength);
    const x = uniform(200, 9, 0, 1);
    const [a, b] = await Promise.all([qdq, f32].map((f) => onnxForward(new Uint8Array(readFileSync(f)), [100], 2, x)));
    expect(maxAbsDiff(a.data, b.data)).toBeLessThanOrEqual(1e-6);
  });

  it('refuses bad command lines with exit status 2 and writes nothing; a failed export leaves an existing file as it was', async () => {
    const weights = mlpCheckpoint('mlp-for-refusals.safetensors');
    const out = join(dir, 'refused.onnx');
    const cases: [string[], string][] = [
      [['--format', 'onnx', '--out', out], '--weights FILE is required'],
      [['--weights', weights, '--out', out], '--format is required: --format onnx'],
      [['--weights', weights, '--format', 'tflite', '--out', out], '--format tflite: expected onnx'],
      [['--weights', weights, '--format', 'onnx'], '--out FILE is required'],
      [['--weights', weights, '--format', 'onnx', '--out', out, '--opset', '9'], '--opset 9: expected an integer in [13, 21]'],
      [['--weights', weights, '--format', 'onnx', '--out', out, '--model', 'cnn'], "--model cnn: --weights " + weights + " records model 'mlp' (mlp); leave --model out"],
      [['--weights', join(dir, 'none.safetensors'), '--format', 'onnx', '--out', out], `--weights ${join(dir, 'none.safetensors')}: no such file`],
      [['--weights', weights, '--format', 'onnx', '--out', join(dir, 'missing', 'm.onnx')], `the folder ${join(dir, 'missing')} does not exist`],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(['export', ...args]);
      expect(r.err.join('\n'), args.join(' ')).toContain(message);
      expect(r.status, args.join(' ')).toBe(2);
    }
    expect(existsSync(out)).toBe(false);

    // Weights of another shape: the exporter refuses them, and the file already at --out is untouched.
    const wrong = join(dir, 'wrong.safetensors');
    writeFileSync(wrong, encodeSafetensors([{ name: '0.weight', shape: [3, 5], data: new Float32Array(15) }], { model: 'cnn' }));
    const kept = join(dir, 'kept');
    mkdirSync(kept);
    writeFileSync(join(kept, 'model.onnx'), 'old model');
    const r = await runCli(['export', '--weights', wrong, '--format', 'onnx', '--out', join(kept, 'model.onnx')]);
    expect(r.err).toEqual([`webgpu-dl: --weights ${wrong}: a cnn checkpoint holds '6.weight' of rank 2; found none (is --model right?)`]);
    expect(r.status).toBe(1);
    expect(readFileSync(join(kept, 'model.onnx'), 'utf8')).toBe('old model');
    expect(readdirSync(kept)).toEqual(['model.onnx']);
  });

  it('prints its help', async () => {
    const r = await runCli(['export', '--help']);
    expect(r.status).toBe(0);
    expect(r.out.join('\n')).toMatch(/^usage: webgpu-dl export --weights FILE --format onnx --out FILE\.onnx/);
  });
});
