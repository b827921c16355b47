import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { limit } from '../../src/cli/classifier.js';
import { dequantizeStateDict, encodeQuantizedSafetensors, quantizeStateDict } from '../../src/compress/quantize.js';
import { writeCifarFolder } from '../../src/data/cifar_files.js';
import type { ImageDataset } from '../../src/data/dataset.js';
import { encodeIdx } from '../../src/data/idx.js';
import { IDX_FILES, loadIdxFolder, loadMnist } from '../../src/data/idx_files.js';
import { mnistCnn, mnistMlp } from '../../src/models/mnist.js';
import { Adam } from '../../src/optim/optimizers.js';
import { decodeSafetensors, encodeSafetensors } from '../../src/train/safetensors.js';
import { Trainer } from '../../src/train/trainer.js';
import { runCli } from '../helpers/cli.js';
import { useEngine } from '../helpers/engine.js';
import { runPython, torchStatus } from '../helpers/parity.js';
import { rng } from '../helpers/random.js';

/*
 * scripts/check_pytorch.py, the hand-run check that PyTorch reproduces the engine's test accuracy
 * and loss from its checkpoints, run here on every kind of checkpoint it reads: weights with their
 * Adam state (from a short MNIST run), int8 weights, a CNN on IDX files of its own, and a ResNet
 * the CLI trained on CIFAR-10 binary files (rebuilt from the configuration its metadata records).
 */

const torch = torchStatus();
const inCi = process.env.CI === 'true';
const engine = useEngine();

/** The engine's and PyTorch's test accuracy agree to one image in `count`, their mean losses to 1e-5 relative. */
function expectSameEvaluation(ours: { accuracy: number; loss: number }, theirs: Record<string, unknown>, count: number, what: string): void {
  expect(Math.abs(ours.accuracy - (theirs.testAccuracy as number)), `${what} accuracy`).toBeLessThanOrEqual(1 / count + 1e-9);
  expect(Math.abs(ours.loss - (theirs.testLoss as number)) / Math.abs(theirs.testLoss as number), `${what} loss`).toBeLessThanOrEqual(1e-5);
  console.log(`check_pytorch ${what}: engine accuracy ${ours.accuracy} loss ${ours.loss.toPrecision(7)}; torch ${String(theirs.testAccuracy)} ${(theirs.testLoss as number).toPrecision(7)}`);
}

describe.skipIf(!torch.ok && !inCi)('scripts/check_pytorch.py reproduces the engine from its checkpoints', () => {
  const dir = mkdtempSync(join(tmpdir(), 'check-pytorch-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds torch in /usr/bin/python3 (CI installs python3-torch; a missing torch fails there)', () => {
    if (!torch.ok) throw new Error(`${torch.reason}; CI needs Debian's python3-torch (bash scripts/setup.sh system installs it)`);
  });

  it('MLP weights with Adam state after two steps on MNIST, and the same weights quantised to int8', async () => {
    const mnist = await loadMnist();
    // The first 2,000 test images, as IDX files check_pytorch.py reads with --data (the whole set is slow on a software GPU).
    const test = limit(mnist.test, 2000);
    const data = join(dir, 'mnist-2000');
    mkdirSync(data);
    writeFileSync(join(data, IDX_FILES.testImages), encodeIdx([test.count, 28, 28], test.images));
    writeFileSync(join(data, IDX_FILES.testLabels), encodeIdx([test.count], Uint8Array.from(test.labels)));
    const trainer = new Trainer(engine(), { model: mnistMlp(), inputShape: [784], classes: 10, optimizer: new Adam({ lr: 1e-3 }), seed: 3 });
    try {
      await trainer.fit(limit(mnist.train, 256), { epochs: 1, batchSize: 128 });
      const weights = join(dir, 'mlp.safetensors');
      const optimizer = join(dir, 'mlp.optimizer.safetensors');
      writeFileSync(weights, await trainer.checkpoint({ model: 'mlp' }));
      writeFileSync(optimizer, await trainer.optimizerCheckpoint({ model: 'mlp' }));
      const theirs = runPython('check_pytorch.py', ['mlp', weights, '--optimizer', optimizer, '--data', data]);
      expect([theirs.optimizerStep, theirs.optimizerTensors]).toEqual([2, 12]);
      expectSameEvaluation(await trainer.evaluate(test), theirs, test.count, 'mlp');

      const q = quantizeStateDict(decodeSafetensors(await trainer.checkpoint()).tensors.values());
      const small = join(dir, 'mlp.int8.safetensors');
      writeFileSync(small, encodeQuantizedSafetensors(q, { model: 'mlp' }));
      trainer.load(encodeSafetensors(dequantizeStateDict(q.tensors)));
      expectSameEvaluation(await trainer.evaluate(test), runPython('check_pytorch.py', ['mlp', small, '--data', data]), test.count, 'mlp int8');
    } finally {
      trainer.dispose();
    }
  });

  it('the CNN on a folder of 28×28 IDX files (--data)', async () => {
    const data = join(dir, 'idx');
    mkdirSync(data);
    const next = rng(9);
    for (const [images, labels, count] of [[IDX_FILES.trainImages, IDX_FILES.trainLabels, 10], [IDX_FILES.testImages, IDX_FILES.testLabels, 40]] as const) {
      writeFileSync(join(data, images), encodeIdx([count, 28, 28], Uint8Array.from({ length: count * 784 }, () => Math.floor(next() * 256))));
      writeFileSync(join(data, labels), encodeIdx([count], Uint8Array.from({ length: count }, (_, i) => i % 10)));
    }
    const splits = await loadIdxFolder(data);
    const trainer = new Trainer(engine(), { model: mnistCnn(), inputShape: [1, 28, 28], classes: 10, optimizer: new Adam(), seed: 4 });
    try {
      const weights = join(dir, 'cnn.safetensors');
      writeFileSync(weights, await trainer.checkpoint({ model: 'cnn' }));
      expectSameEvaluation(await trainer.evaluate(splits.test), runPython('check_pytorch.py', ['cnn', weights, '--data', data]), splits.test.count, 'cnn');
    } finally {
      trainer.dispose();
    }
  });
});

describe.skipIf(!torch.ok && !inCi)('scripts/check_pytorch.py resnet', () => {
  const dir = mkdtempSync(join(tmpdir(), 'check-pytorch-resnet-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("gives the test accuracy and loss the CLI printed for its ResNet checkpoint, with the recorded per-channel normalisation", async () => {
    const next = rng(12);
    const split = (count: number): ImageDataset => ({
      // Channels of different brightness, so per-channel normalisation differs from a scalar one.
      images: Uint8Array.from({ length: count * 3 * 1024 }, (_, i) => Math.floor(next() * (96 + 80 * Math.floor((i % 3072) / 1024)))),
      labels: Uint8Array.from({ length: count }, (_, i) => i % 3),
      count,
      height: 32,
      width: 32,
      channels: 3,
      classes: 3,
    });
    const data = join(dir, 'cifar');
    await writeCifarFolder(data, { train: split(16), test: split(21) });
    const weights = join(dir, 'resnet.safetensors');
    const run = await runCli(['train', '--model', 'resnet', '--data', data, '--depth', '8', '--width', '4', '--epochs', '1', '--batch', '8', '--json', '--out', weights]);
    expect(run.status, run.err.join('\n')).toBe(0);
    const epoch = JSON.parse(run.out.find((l) => l.includes('"epoch"'))!) as { testAccuracy: number; testLoss: number };
    expectSameEvaluation({ accuracy: epoch.testAccuracy, loss: epoch.testLoss }, runPython('check_pytorch.py', ['resnet', weights, '--data', data]), 21, 'resnet');
    expect(() => runPython('check_pytorch.py', ['resnet', weights])).toThrow(/resnet: give --data/);
    // Files that are not safetensors stop with a one-line reason, before anything is read past the header length.
    const short = join(dir, 'short.safetensors');
    writeFileSync(short, 'garbage');
    const huge = join(dir, 'huge.safetensors');
    writeFileSync(huge, Uint8Array.from([0, 0, 0, 0, 0, 0x80, 0, 0, 0x7b, 0x7d]));
    const notJson = join(dir, 'notjson.safetensors');
    writeFileSync(notJson, Uint8Array.from([...[4, 0, 0, 0, 0, 0, 0, 0], ...new TextEncoder().encode('{no}')]));
    for (const f of [short, huge]) expect(() => runPython('check_pytorch.py', ['resnet', f, '--data', data])).toThrow(/not a safetensors file \(its \d+ bytes do not start with a header length of at most \d+\)/);
    expect(() => runPython('check_pytorch.py', ['resnet', notJson, '--data', data])).toThrow(/not a safetensors file \(its header is not JSON/);
  }, 300_000);
});

if (!torch.ok && !inCi) {
  describe('scripts/check_pytorch.py', () => {
    it.skip(`skipped: ${(torch as { reason: string }).reason} (install python3-torch; in CI this fails instead)`, () => {});
  });
}
