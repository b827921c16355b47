import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeIdx } from '../../src/data/idx.js';
import { IDX_FILES, loadIdxFolder } from '../../src/data/idx_files.js';
import type { ImageDataset } from '../../src/data/dataset.js';
import { classifierTrainer } from '../../src/cli/classifier.js';
import { runCli } from '../helpers/cli.js';
import { useEngine } from '../helpers/engine.js';
import { torchStatus } from '../helpers/parity.js';
import { change, flatTensors as flatWeights, norm, relativeNormError, resumeOneCosineStep, trainPy } from '../helpers/pytorch_kit.js';
import { rng } from '../helpers/random.js';

/*
 * `webgpu-dl export --format pytorch` from a short CLI run (MLP and CNN): one step of the folder's train.py
 * (fixed batch, resumed at the recorded step with the recorded Adam state and schedule) equals the
 * engine's next step from the same checkpoint, and two torchrun processes (gloo) on half-batches
 * step as one process on the whole batch.
 */

const torch = torchStatus();
const inCi = process.env.CI === 'true';
const engine = useEngine();
const TOLERANCE = 1e-5;
const BATCH = 16;
const LR = 0.01;
const RESUMED_EPOCHS = 3; // the CLI run is 1 epoch of 4 steps; train.py carries the cosine on to 12
const INDICES = [5, 60, 33, 2, 17, 48, 9, 41, 22, 63, 0, 37, 14, 55, 28, 11];

function pick(d: ImageDataset, indices: readonly number[]): ImageDataset {
  const size = d.height * d.width;
  const images = new Uint8Array(indices.length * size);
  indices.forEach((s, i) => images.set(d.images.subarray(s * size, (s + 1) * size), i * size));
  return { ...d, count: indices.length, images, labels: Uint8Array.from(indices, (s) => d.labels[s]) };
}

describe.skipIf(!torch.ok && !inCi).each(['mlp', 'cnn'] as const)('export --format pytorch: train.py resumes the %s run', (model) => {
  const dir = mkdtempSync(join(tmpdir(), `pytorch-kit-${model}-`));
  const data = join(dir, 'idx');
  const weights = join(dir, 'run.safetensors');
  const kit = join(dir, 'kit');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  beforeAll(async () => {
    mkdirSync(data);
    const next = rng(17);
    for (const [images, labels, count] of [[IDX_FILES.trainImages, IDX_FILES.trainLabels, 64], [IDX_FILES.testImages, IDX_FILES.testLabels, 16]] as const) {
      writeFileSync(join(data, images), encodeIdx([count, 28, 28], Uint8Array.from({ length: count * 784 }, () => Math.floor(next() * 256))));
      writeFileSync(join(data, labels), encodeIdx([count], Uint8Array.from({ length: count }, (_, i) => (i * 7) % 10)));
    }
    const run = await runCli(['train', '--model', model, '--data', data, '--epochs', '1', '--batch', String(BATCH), '--lr', String(LR), '--seed', '3', '--out', weights]);
    expect(run.status, run.err.join('\n')).toBe(0);
    const exported = await runCli(['export', '--weights', weights, '--format', 'pytorch', '--out', kit]);
    expect(exported.status, exported.err.join('\n')).toBe(0);
  }, 120_000);

  it('finds torch in /usr/bin/python3 (CI installs python3-torch; a missing torch fails there)', () => {
    if (!torch.ok) throw new Error(`${torch.reason}; CI needs Debian's python3-torch (bash scripts/setup.sh system installs it)`);
  });

  it('writes the weights, the optimizer state, the recipe, the Python sources and a README with the commands', () => {
    for (const f of ['weights.safetensors', 'optimizer.safetensors', 'kit.json', 'train.py', 'model.py', 'checkpoint_io.py', 'torch_models.py', 'README.md']) expect(existsSync(join(kit, f)), f).toBe(true);
    expect(readFileSync(join(kit, 'weights.safetensors'))).toEqual(readFileSync(weights));
    expect(readFileSync(join(kit, 'torch_models.py'), 'utf8')).toBe(readFileSync(join(import.meta.dirname, '..', '..', 'scripts', 'torch_models.py'), 'utf8'));
    const k = JSON.parse(readFileSync(join(kit, 'kit.json'), 'utf8'));
    expect(k).toMatchObject({ model, step: 4, config: { ...(model === 'mlp' ? { hidden: [256, 256] } : {}), height: 28, width: 28, classes: 10 } });
    expect(k.recipe).toMatchObject({ optimizer: { kind: 'adam', lr: LR }, schedule: 'cosine', epochs: 1, batch: BATCH, seed: 3, image: [28, 28], data });
    const readme = readFileSync(join(kit, 'README.md'), 'utf8');
    expect(readme).toContain(`python3 train.py --data ${data}`);
    expect(readme).toContain(`torchrun --nproc_per_node 4 train.py --data ${data}`);
    expect(readme).not.toMatch(/\{\{\w+\}\}/);
  });

  it('one train.py step equals the engine\'s next step from the checkpoint (loss, lr and the weights\' change)', async () => {
    const before = flatWeights(readFileSync(weights));
    const out = join(dir, 'torch.safetensors');
    const { line: resumed, lr } = resumeOneCosineStep(kit, { data, epochs: RESUMED_EPOCHS, indices: INDICES, out, lr: LR });

    const splits = await loadIdxFolder(data);
    // The CLI's own model and Adam for this data (classifierTrainer), from the checkpoint.
    const trainer = classifierTrainer(engine(), model, splits, { lr: LR, seed: 3 });
    try {
      trainer.load(readFileSync(weights));
      trainer.loadOptimizer(readFileSync(join(dir, 'run.optimizer.safetensors')));
      const [epoch] = await trainer.fit(pick(splits.train, INDICES), { epochs: 1, batchSize: BATCH, schedule: () => lr });
      const ours = change(flatWeights(await trainer.checkpoint()), before);
      const theirs = change(flatWeights(readFileSync(out)), before);
      const error = relativeNormError(theirs, ours);
      const lossError = Math.abs(resumed.loss - epoch.loss) / Math.abs(epoch.loss);
      console.log(`pytorch kit (${model}): engine loss ${epoch.loss.toPrecision(8)}, train.py ${resumed.loss.toPrecision(8)} (rel ${lossError.toExponential(2)}); weight change rel error ${error.toExponential(2)}`);
      expect(lossError).toBeLessThanOrEqual(TOLERANCE);
      expect(error).toBeLessThanOrEqual(TOLERANCE);
      // The step moved the weights: a change of zero on both sides would pass the comparison above.
      expect(norm(ours)).toBeGreaterThan(1e-3);
    } finally {
      trainer.dispose();
    }
  }, 120_000);

  it('torchrun with 2 processes (gloo) on half-batches steps as one process on the whole batch', { retry: 1, timeout: 180_000 }, () => {
    const before = flatWeights(readFileSync(weights));
    const args = (save: string) => ['--data', data, '--epochs', String(RESUMED_EPOCHS), '--steps', '1', '--batch-indices', INDICES.join(','), '--save', save];
    const one = trainPy(kit, args(join(dir, 'one.safetensors'))).filter((l) => l.event === 'step');
    const two = trainPy(kit, args(join(dir, 'two.safetensors')), 2);
    expect(two.find((l) => l.event === 'done')).toMatchObject({ processes: 2, device: 'cpu' });
    const twoSteps = two.filter((l) => l.event === 'step');
    expect(twoSteps.length).toBe(1);
    expect(Math.abs(twoSteps[0].loss - one[0].loss) / one[0].loss).toBeLessThanOrEqual(TOLERANCE);
    const error = relativeNormError(change(flatWeights(readFileSync(join(dir, 'two.safetensors'))), before), change(flatWeights(readFileSync(join(dir, 'one.safetensors'))), before));
    console.log(`pytorch kit (${model}): torchrun 2 processes vs 1, loss ${twoSteps[0].loss} vs ${one[0].loss}, weight change rel error ${error.toExponential(2)}`);
    expect(error).toBeLessThanOrEqual(TOLERANCE);
  });
});

if (!torch.ok && !inCi) {
  describe('export --format pytorch', () => {
    it.skip(`skipped: ${(torch as { reason: string }).reason} (install python3-torch; in CI this fails instead)`, () => {});
  });
}
