import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ImageDataset } from '../../src/data/dataset.js';
import { encodeIdx } from '../../src/data/idx.js';
import { IDX_FILES, loadMnist } from '../../src/data/idx_files.js';
import { mnistMlp } from '../../src/models/mnist.js';
import { loadModel } from '../../src/train/predictor.js';
import { Trainer } from '../../src/train/trainer.js';
import { runCli } from '../helpers/cli.js';
import { useEngine } from '../helpers/engine.js';

const engine = useEngine();
const dir = mkdtempSync(join(tmpdir(), 'predictor-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function head(d: ImageDataset, n: number): ImageDataset {
  return { ...d, count: n, images: d.images.subarray(0, n * 784), labels: d.labels.subarray(0, n) };
}

describe('a CLI checkpoint for inference', () => {
  it('loads into mnistMlp() and predicts the accuracy the CLI and the trainer report', async () => {
    const mnist = await loadMnist();
    const train = head(mnist.train, 600);
    const test = head(mnist.test, 300);
    writeFileSync(join(dir, IDX_FILES.trainImages), encodeIdx([600, 28, 28], train.images));
    writeFileSync(join(dir, IDX_FILES.trainLabels), encodeIdx([600], train.labels));
    writeFileSync(join(dir, IDX_FILES.testImages), encodeIdx([300, 28, 28], test.images));
    writeFileSync(join(dir, IDX_FILES.testLabels), encodeIdx([300], test.labels));
    const out = join(dir, 'w.safetensors');
    const r = await runCli(['train', '--model', 'mlp', '--data', dir, '--epochs', '1', '--batch', '50', '--json', '--out', out]);
    expect(r.status).toBe(0);
    const done = JSON.parse(r.out.at(-1)!);
    expect(done.event).toBe('done');
    expect(done.testAccuracy).toBeGreaterThan(0.5);

    const bytes = new Uint8Array(readFileSync(out));
    using predictor = loadModel(engine(), bytes, mnistMlp(), { inputShape: [784] });
    const predicted = await predictor.predictClasses(test.images, { batchSize: 128 });
    const accuracy = predicted.reduce((n, c, i) => n + (c === test.labels[i] ? 1 : 0), 0) / test.count;
    expect(accuracy).toBe(done.testAccuracy);

    using trainer = new Trainer(engine(), { model: mnistMlp(), inputShape: [784] });
    trainer.load(bytes);
    expect((await trainer.evaluate(test)).accuracy).toBe(accuracy);
  });
});
