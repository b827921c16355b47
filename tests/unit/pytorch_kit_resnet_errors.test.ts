import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resnetRecipeMetadata } from '../../src/export/pytorch_resnet_recipe.js';
import { encodeSafetensors, type NamedTensor } from '../../src/train/safetensors.js';
import { runCli } from '../helpers/cli.js';

/*
 * `export --format pytorch` of a ResNet checkpoint: the configuration and the recipe (SGD, the
 * cosine, the normalisation) go to kit.json; what train.py could not resume is refused before
 * anything is written (no GPU, no Python needed).
 */

const dir = mkdtempSync(join(tmpdir(), 'pytorch-kit-resnet-errors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const tensor = (name: string, shape: number[]): NamedTensor => ({ name, shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.25) });
// Enough of a ResNet (width 4, 3 channels, 5 classes) for the export's checks: the stem and the classifier.
const WEIGHTS = [tensor('conv1.weight', [4, 3, 3, 3]), tensor('bn1.weight', [4]), tensor('fc.weight', [5, 16]), tensor('fc.bias', [5])];
const CONFIG = { depth: 8, width: 4, classes: 5, channels: 3 };
const RECIPE = {
  optimizer: { lr: 0.1, momentum: 0.9, dampening: 0, nesterov: true, weightDecay: 5e-4 },
  epochs: 30,
  batch: 128,
  seed: 1,
  image: [32, 32] as [number, number],
  data: '/data/cifar-10-binary.tar.gz',
  format: 'cifar-binary' as const,
  augment: { crop: 4, flip: true },
  normalisation: { mean: [0.49, 0.48, 0.45], std: [0.25, 0.24, 0.26] },
};

let serial = 0;
function checkpoint(o: { tensors?: NamedTensor[]; weights?: Record<string, string>; optimizer?: Record<string, string> } = {}): string {
  const path = join(dir, `r${serial++}.safetensors`);
  const pair = { run_id: 'abc', step: '9' };
  const tensors = o.tensors ?? WEIGHTS;
  writeFileSync(path, encodeSafetensors(tensors, { format: 'pt', model: 'resnet', config: JSON.stringify(CONFIG), ...pair, ...resnetRecipeMetadata(RECIPE), ...o.weights }));
  const buffers = tensors.map((t) => ({ ...t, name: `${t.name}.momentum_buffer` }));
  writeFileSync(path.replace(/\.safetensors$/, '.optimizer.safetensors'), encodeSafetensors(buffers, { format: 'pt', content: 'optimizer', optimizer: 'sgd', ...pair, ...o.optimizer }));
  return path;
}

async function exportKit(weights: string): Promise<{ status: number; message: string; out: string }> {
  const out = join(dir, `kit${serial++}`);
  const r = await runCli(['export', '--weights', weights, '--format', 'pytorch', '--out', out]);
  return { status: r.status, message: r.err.join('\n'), out };
}

describe('export --format pytorch (resnet)', () => {
  it('writes the configuration, the SGD recipe with the normalisation, the ResNet sources and README', async () => {
    const r = await exportKit(checkpoint());
    expect(r.status, r.message).toBe(0);
    const kit = JSON.parse(readFileSync(join(r.out, 'kit.json'), 'utf8'));
    expect(kit).toMatchObject({ model: 'resnet', step: 9, config: { ...CONFIG, image: [32, 32] } });
    expect(kit.recipe).toEqual({ ...RECIPE, optimizer: { kind: 'sgd', ...RECIPE.optimizer }, schedule: 'cosine' });
    for (const f of ['resnet.py', 'cifar.py', 'train.py', 'model.py']) expect(existsSync(join(r.out, f)), f).toBe(true);
    const readme = readFileSync(join(r.out, 'README.md'), 'utf8');
    expect(readme).toContain('SGD lr 0.1, Nesterov momentum 0.9, weight decay 0.0005 on every parameter, batch 128, cosine to 0 over 30 epochs');
    expect(readme).toContain('python3 train.py --data /data/cifar-10-binary.tar.gz');
    expect(readme).not.toMatch(/\{\{\w+\}\}/);
  });

  const recipeWith = (patch: object) => ({ recipe: JSON.stringify({ ...JSON.parse(resnetRecipeMetadata(RECIPE).recipe), ...patch }) });
  it.each([
    ['weights without a recipe (a run saved before the recipe was recorded)', () => checkpoint({ weights: { recipe: undefined as unknown as string } }), "records no training recipe (metadata 'recipe')", 'train --model resnet --out'],
    ['Adam state beside ResNet weights', () => checkpoint({ optimizer: { optimizer: 'adam' } }), 'holds adam state', 'resumes SGD with momentum'],
    ['a recipe without the normalisation', () => checkpoint({ weights: recipeWith({ normalisation: undefined }) }), 'recipe field normalisation', 'mean: [per channel]'],
    ['a recipe with Nesterov given as a string', () => checkpoint({ weights: recipeWith({ optimizer: { ...RECIPE.optimizer, kind: 'sgd', nesterov: 'yes' } }) }), 'recipe field optimizer.nesterov is "yes"', 'true or false'],
    ['a normalisation of another channel count', () => checkpoint({ weights: recipeWith({ normalisation: { mean: [0.5], std: [0.25] } }) }), 'the recipe normalises 1 channels', 'the model takes 3'],
    ['weights that do not fit the recorded configuration', () => checkpoint({ tensors: [tensor('conv1.weight', [8, 3, 3, 3]), tensor('fc.weight', [5, 16])] }), "'conv1.weight' is [8, 3, 3, 3]", 'has [4, 3, 3, 3]'],
    ['a run that read an image folder (the kit reads CIFAR-10 binary files only)', () => checkpoint({ weights: recipeWith({ format: 'image-folder', data: '/data/pets' }) }), 'read an image folder (/data/pets)', 'CIFAR-10\'s binary version only'],
    ['a missing configuration', () => checkpoint({ weights: { config: 'not json' } }), "metadata 'config'", 'is missing or not JSON'],
  ])('refuses %s, writing nothing', async (_what, make, ...parts) => {
    const r = await exportKit(make());
    expect(r.status).not.toBe(0);
    for (const part of parts) expect(r.message).toContain(part);
    expect(existsSync(r.out)).toBe(false);
  });
});
