import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GpuImageDataset } from '../../src/data/gpu_dataset.js';
import type { ImageDataset } from '../../src/data/dataset.js';
import { encodeIdx } from '../../src/data/idx.js';
import { IDX_FILES } from '../../src/data/idx_files.js';
import { MemoryTuneStore } from '../../src/gpu/autotune.js';
import { createEngine } from '../../src/gpu/engine.js';
import { KernelError, ShapeError } from '../../src/gpu/errors.js';
import { compileStep } from '../../src/graph/compile.js';
import { ParameterStore } from '../../src/graph/params.js';
import { Linear, ReLU, Sequential } from '../../src/nn/layers.js';
import { mnistMlp } from '../../src/models/mnist.js';
import { Adam } from '../../src/optim/optimizers.js';
import { Trainer } from '../../src/train/trainer.js';
import { useEngine } from '../helpers/engine.js';

const engine = useEngine();
const dir = mkdtempSync(join(tmpdir(), 'limits-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const smallData = (pixels: [number, number], count = 8): ImageDataset => ({
  images: new Uint8Array(count * pixels[0] * pixels[1]),
  labels: Uint8Array.from({ length: count }, (_, i) => i % 10),
  count,
  height: pixels[0],
  width: pixels[1],
  classes: 10,
});

describe('device limits checked at build time', () => {
  it("a model whose parameters exceed the device's buffer limit fails at compile, naming the largest layer and the limit", async () => {
    const e = engine();
    const limit = Math.min(e.device.limits.maxBufferSize, e.device.limits.maxStorageBufferBindingSize);
    const hidden = 2 ** Math.ceil(Math.log2(limit / 4 / 784) + 1);
    const before = e.stats.liveBuffers;
    const trainer = new Trainer(e, { model: mnistMlp([hidden], 784, 10), inputShape: [784], classes: 10, optimizer: new Adam({ lr: 1e-3 }), seed: 1 });
    const error = await trainer.fit(smallData([28, 28]), { epochs: 1, batchSize: 4 }).catch((x) => x);
    trainer.dispose();
    expect(error).toBeInstanceOf(ShapeError);
    expect(error.message).toMatch(/^the model's parameters take [\d.]+ GiB \(\d+ bytes\) in one flat buffer, over this device's max\w+ of [\d.]+ GiB/);
    expect(error.message).toContain(`'1.weight' [${hidden}, 784]`);
    expect(error.message).toMatch(/Use smaller layers/);
    await e.sync();
    expect(e.uncapturedErrors).toBe(0);
    expect(e.stats.liveBuffers).toBe(before);
  });

  it('a batch whose activations exceed the binding limit fails at compile, naming the op, its layer and how many rows fit', async () => {
    const e = engine();
    const limit = Math.min(e.device.limits.maxBufferSize, e.device.limits.maxStorageBufferBindingSize);
    const store = new ParameterStore(e, { seed: 1 });
    const model = new Sequential(new Linear(3, 4096), ReLU());
    model.register(store);
    const batch = Math.ceil(limit / 4 / 4096) + 1;
    const error = await compileStep(e, {
      inputs: { x: { shape: [batch, 3] } },
      stores: [store],
      build: (g, { x }) => ({ outputs: { y: model.apply(g, x, { store, training: false }) } }),
    }).catch((x) => x);
    expect(error).toBeInstanceOf(ShapeError);
    expect(error.message).toMatch(new RegExp(`^matmul in layer 'Linear\\(3→4096\\)': tensor \\[${batch}, 4096\\] takes .* over this device's max\\w+ .*at most ${Math.floor(limit / 4 / 4096)} rows`));
    store.dispose();
    await e.sync();
    expect(e.uncapturedErrors).toBe(0);
  });

  it('a dataset too big for one binding is refused before upload, with how many images fit', () => {
    const e = engine();
    const limit = Math.min(e.device.limits.maxBufferSize, e.device.limits.maxStorageBufferBindingSize);
    const count = Math.ceil(limit / 784) + 1;
    // Only the sizes are read before the check, so no gigabytes are allocated here.
    const huge = { ...smallData([28, 28]), count, images: { byteLength: count * 784 } as Uint8Array };
    expect(() => new GpuImageDataset(e, huge)).toThrow(new RegExp(`^dataset: ${count} images of 28×28×1 take .* train on at most ${Math.floor(limit / 784)} of them \\(e\\.g\\. --limit`));
  });

  it('createStorage refuses a buffer past the limit by name instead of making an invalid one', () => {
    const e = engine();
    expect(() => e.createStorage(e.device.limits.maxBufferSize + 4, 'huge thing')).toThrow(/^buffer 'huge thing' of \d+ bytes exceeds this device's max\w+ of \d+ bytes/);
  });
});

describe('GPU errors outside error scopes', () => {
  it('go to the engine log, not stdout, and the next flush throws the first of them once', async () => {
    const lines: string[] = [];
    const e = await createEngine({ autotune: false, tuneStore: new MemoryTuneStore(), log: (m) => lines.push(m) });
    try {
      for (let i = 0; i < 5; i++) e.device.createBuffer({ size: e.device.limits.maxBufferSize + 4, usage: GPUBufferUsage.STORAGE, label: `raw ${i}` });
      await e.device.queue.onSubmittedWorkDone();
      await new Promise((r) => setTimeout(r, 50));
      expect(e.uncapturedErrors).toBe(5);
      expect(lines.filter((l) => l.startsWith('webgpu-dl: GPU error: '))).toHaveLength(3);
      expect(lines.at(-1)).toBe('webgpu-dl: further GPU errors are not shown');
      const error = await e.flush().catch((x) => x);
      expect(error).toBeInstanceOf(KernelError);
      expect(error.message).toMatch(/the GPU reported an error outside any error scope: .*exceeds the max buffer size/);
      await expect(e.flush()).resolves.toBeUndefined();
    } finally {
      await e.close();
    }
  });

  it('webgpu-dl train with a model too big for the device: one error line on stderr, nothing with "validation" on stdout', () => {
    // 2000×2000 images make the MLP's first layer 4M×256 weights, 4 GiB: past any device's default limits.
    const side = 2000;
    writeFileSync(join(dir, IDX_FILES.trainImages), encodeIdx([2, side, side], new Uint8Array(2 * side * side)));
    writeFileSync(join(dir, IDX_FILES.trainLabels), encodeIdx([2], Uint8Array.of(0, 1)));
    writeFileSync(join(dir, IDX_FILES.testImages), encodeIdx([1, side, side], new Uint8Array(side * side)));
    writeFileSync(join(dir, IDX_FILES.testLabels), encodeIdx([1], Uint8Array.of(1)));
    const bin = join(__dirname, '../../bin/webgpu-dl.js');
    const r = spawnSync('node', [bin, 'train', '--data', dir, '--epochs', '1', '--batch', '1', '--json'], { encoding: 'utf8' });
    expect(r.stdout).not.toMatch(/validation/i);
    expect(r.stdout).toBe('');
    expect(r.status).toBe(1);
    const ours = r.stderr.split('\n').filter((l) => l.startsWith('webgpu-dl: '));
    expect(ours.at(-1)).toMatch(/^webgpu-dl: the model's parameters take [\d.]+ GiB .*'1\.weight' \[256, 4000000\]/);
    expect(r.stderr).not.toMatch(/GPU error/);
  });
});
