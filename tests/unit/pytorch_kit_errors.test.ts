import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { classifierRecipeMetadata } from '../../src/export/pytorch_recipe.js';
import { encodeSafetensors, type NamedTensor } from '../../src/train/safetensors.js';
import { runCli } from '../helpers/cli.js';

/*
 * `export --format pytorch` refuses, before writing anything, what train.py could not resume; and
 * reads the model's sizes from the weights and the recipe (no GPU, no Python needed).
 */

const dir = mkdtempSync(join(tmpdir(), 'pytorch-kit-errors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const RECIPE = { lr: 0.003, schedule: 'cosine', epochs: 2, batch: 32, seed: 1, image: [28, 28] } as const;
const tensor = (name: string, shape: number[]): NamedTensor => ({ name, shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.25) });
const MLP = [tensor('1.weight', [8, 784]), tensor('1.bias', [8]), tensor('3.weight', [6, 8]), tensor('3.bias', [6]), tensor('5.weight', [3, 6]), tensor('5.bias', [3])];

let serial = 0;
/** A weights file (and, unless `optimizer` is null, its optimizer file beside it); the weights' path. */
function checkpoint(o: { tensors?: NamedTensor[]; weights?: Record<string, string>; optimizer?: Record<string, string> | null } = {}): string {
  const path = join(dir, `w${serial++}.safetensors`);
  const pair = { run_id: 'abc', step: '7' };
  const recipe = classifierRecipeMetadata({ ...RECIPE, image: [28, 28] });
  writeFileSync(path, encodeSafetensors(o.tensors ?? MLP, { format: 'pt', model: 'mlp', ...pair, ...recipe, ...o.weights }));
  if (o.optimizer !== null) {
    const moments = (o.tensors ?? MLP).flatMap((t) => ['exp_avg', 'exp_avg_sq'].map((k) => ({ ...t, name: `${t.name}.${k}` })));
    writeFileSync(path.replace(/\.safetensors$/, '.optimizer.safetensors'), encodeSafetensors(moments, { format: 'pt', content: 'optimizer', optimizer: 'adam', ...pair, ...o.optimizer }));
  }
  return path;
}

async function exportKit(weights: string, extra: string[] = []): Promise<{ status: number; message: string; out: string }> {
  const out = join(dir, `kit${serial++}`);
  const r = await runCli(['export', '--weights', weights, '--format', 'pytorch', '--out', out, ...extra]);
  return { status: r.status, message: r.err.join('\n'), out };
}

/** The classifier recipe with its Adam settings changed as `patch` says. */
function withOptimizer(patch: Record<string, unknown>): object {
  const recipe = JSON.parse(classifierRecipeMetadata(RECIPE as never).recipe);
  return { ...recipe, optimizer: { ...recipe.optimizer, ...patch } };
}

describe('export --format pytorch', () => {
  it('reads the hidden widths and classes from the weights, and the image size and settings from the recipe', async () => {
    const r = await exportKit(checkpoint());
    expect(r.status, r.message).toBe(0);
    const kit = JSON.parse(readFileSync(join(r.out, 'kit.json'), 'utf8'));
    expect(kit).toMatchObject({ model: 'mlp', step: 7, config: { hidden: [8, 6], height: 28, width: 28, classes: 3 } });
    expect(kit.recipe).toEqual({ optimizer: { kind: 'adam', lr: 0.003, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 }, schedule: 'cosine', epochs: 2, batch: 32, seed: 1, image: [28, 28] });
    expect(readFileSync(join(r.out, 'README.md'), 'utf8')).toContain('Adam lr 0.003, batch 32, cosine schedule over 2 epochs');
  });

  it('sizes a cnn from its classifier layers and the recorded image size (20×20 images: 64 × 8 × 8 features)', async () => {
    const cnn = [tensor('0.weight', [32, 1, 3, 3]), tensor('0.bias', [32]), tensor('2.weight', [64, 32, 3, 3]), tensor('2.bias', [64]), tensor('6.weight', [128, 4096]), tensor('6.bias', [128]), tensor('8.weight', [4, 128]), tensor('8.bias', [4])];
    const recipe = classifierRecipeMetadata({ ...RECIPE, image: [20, 20] });
    const r = await exportKit(checkpoint({ tensors: cnn, weights: { model: 'cnn', ...recipe } }));
    expect(r.status, r.message).toBe(0);
    expect(JSON.parse(readFileSync(join(r.out, 'kit.json'), 'utf8'))).toMatchObject({ model: 'cnn', config: { height: 20, width: 20, classes: 4 } });
  });

  it('records the augmentation a run trained with, for train.py to name (it has none)', () => {
    const recipe = JSON.parse(classifierRecipeMetadata({ ...RECIPE, image: [28, 28], augment: { shift: 2, rotate: 10 } }).recipe);
    expect(recipe.augment).toEqual({ shift: 2, rotate: 10 });
  });

  it.each([
    ['no optimizer state beside the weights', () => checkpoint({ optimizer: null }), 'optimizer state', 'is missing'],
    ['weights without a recipe', () => checkpoint({ weights: { recipe: undefined as unknown as string } }), "records no training recipe (metadata 'recipe')", 'train --model mlp|cnn --out'],
    ['a recipe with a bad field', () => checkpoint({ weights: { recipe: JSON.stringify({ ...JSON.parse(classifierRecipeMetadata(RECIPE as never).recipe), batch: 0 }) } }), 'recipe field batch is 0', 'a positive integer'],
    ['a recipe whose optimizer is AdamW', () => checkpoint({ weights: { recipe: JSON.stringify({ ...JSON.parse(classifierRecipeMetadata(RECIPE as never).recipe), optimizer: { kind: 'adamw' } }) } }), 'recipe field optimizer.kind is "adamw"', "expected 'adam'"],
    ['a recipe with a negative eps', () => checkpoint({ weights: { recipe: JSON.stringify(withOptimizer({ eps: -1e-8 })) } }), 'recipe field optimizer.eps is -1e-8', 'a non-negative number'],
    ['a GAN generator without its discriminator', () => checkpoint({ weights: { model: 'generator' } }), 'a GAN run needs', '.discriminator.safetensors beside it'],
    ['a model the kit does not train', () => checkpoint({ weights: { model: 'vgg' } }), "records model 'vgg'", 'continues mlp, cnn, resnet, transformer and gan runs'],
    ['optimizer state from another run', () => checkpoint({ optimizer: { run_id: 'other' } }), 'run_id abc', 'run_id other'],
    ['SGD state', () => checkpoint({ optimizer: { optimizer: 'sgd' } }), 'holds sgd state', 'resumes Adam'],
    ['weights that do not fit the recorded image size', () => checkpoint({ tensors: [tensor('1.weight', [8, 100]), tensor('1.bias', [8])] }), "'1.weight' is [8, 100]", '[outputs, 784]'],
  ])('refuses %s, writing nothing', async (_what, make, ...parts) => {
    const r = await exportKit(make());
    expect(r.status).not.toBe(0);
    for (const part of parts) expect(r.message).toContain(part);
    expect(existsSync(r.out)).toBe(false);
  });

  it('refuses a file as --out, and the ONNX-only flags', async () => {
    const weights = checkpoint();
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    const r = await runCli(['export', '--weights', weights, '--format', 'pytorch', '--out', file]);
    expect([r.status, r.err.join('\n')]).toEqual([2, expect.stringContaining('exists and is not a folder')]);
    const o = await exportKit(weights, ['--opset', '17']);
    expect([o.status, o.message]).toEqual([2, expect.stringContaining('--opset applies to --format onnx only')]);
  });
});
