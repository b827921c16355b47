import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { transformerRecipeMetadata } from '../../src/export/pytorch_transformer_recipe.js';
import { transformerMetadata } from '../../src/train/text_checkpoint.js';
import { encodeSafetensors } from '../../src/train/safetensors.js';
import { runCli } from '../helpers/cli.js';

/*
 * `export --format pytorch` of a character transformer checkpoint (no GPU, no Python): kit.json
 * carries the configuration, vocabulary and AdamW recipe the metadata records; what train.py could
 * not resume is refused before anything is written.
 */

const dir = mkdtempSync(join(tmpdir(), 'pytorch-kit-transformer-errors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CONFIG = { vocab: 3, context: 4, layers: 1, heads: 1, dim: 2, dropout: 0 };
const VOCAB = ['a', 'b', '\n'];
const RECIPE = { optimizer: { kind: 'adamw' as const, lr: 0.002, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1 }, warmup: 100, minLr: 0.0002, steps: 50, batch: 6, seed: 2, clipNorm: 1, data: '/data/text.txt' };
const WEIGHT = { name: 'lm_head.weight', shape: [3, 2], data: new Float32Array(6).fill(0.5) };

let serial = 0;
function checkpoint(o: { weights?: Record<string, string>; optimizer?: Record<string, string> } = {}): string {
  const path = join(dir, `t${serial++}.safetensors`);
  const pair = { run_id: 'r1', step: '12' };
  writeFileSync(path, encodeSafetensors([WEIGHT], { format: 'pt', ...transformerMetadata(CONFIG, VOCAB), ...transformerRecipeMetadata(RECIPE), ...pair, ...o.weights }));
  const moments = ['exp_avg', 'exp_avg_sq'].map((k) => ({ ...WEIGHT, name: `${WEIGHT.name}.${k}` }));
  writeFileSync(path.replace(/\.safetensors$/, '.optimizer.safetensors'), encodeSafetensors(moments, { format: 'pt', content: 'optimizer', optimizer: 'adamw', model: 'transformer', ...pair, ...o.optimizer }));
  return path;
}

async function exportKit(weights: string): Promise<{ status: number; message: string; out: string }> {
  const out = join(dir, `kit${serial++}`);
  const r = await runCli(['export', '--weights', weights, '--format', 'pytorch', '--out', out]);
  return { status: r.status, message: r.err.join('\n'), out };
}

describe('export --format pytorch of a character transformer', () => {
  it('writes kit.json with the configuration, the vocabulary and the AdamW recipe, and the transformer README', async () => {
    const r = await exportKit(checkpoint());
    expect(r.status, r.message).toBe(0);
    const kit = JSON.parse(readFileSync(join(r.out, 'kit.json'), 'utf8'));
    expect(kit).toEqual({ model: 'transformer', config: CONFIG, vocab: VOCAB, recipe: { ...RECIPE, schedule: 'nanogpt' }, weights: 'weights.safetensors', optimizerState: 'optimizer.safetensors', step: 12 });
    const readme = readFileSync(join(r.out, 'README.md'), 'utf8');
    expect(readme).toContain('for 12 of 50 steps');
    expect(readme).toContain('AdamW lr 0.002, batch 6');
    expect(readme).toContain('python3 train.py --data /data/text.txt');
    expect(readme).not.toMatch(/\{\{\w+\}\}/);
  });

  it.each([
    ['Adam state beside AdamW weights', () => checkpoint({ optimizer: { optimizer: 'adam' } }), 'holds adam state', 'resumes AdamW'],
    ['weights without a recipe', () => checkpoint({ weights: { recipe: undefined as unknown as string } }), "records no training recipe (metadata 'recipe')", 'train --model transformer --out'],
    ['a recipe that is not JSON', () => checkpoint({ weights: { recipe: '{adamw' } }), "metadata 'recipe' is not JSON: {adamw"],
    ['a recipe with another schedule', () => checkpoint({ weights: { recipe: JSON.stringify({ ...RECIPE, schedule: 'cosine' }) } }), 'recipe field schedule is "cosine"', "'nanogpt'"],
    ['a recipe whose optimizer is Adam', () => checkpoint({ weights: { recipe: JSON.stringify({ ...RECIPE, schedule: 'nanogpt', optimizer: { ...RECIPE.optimizer, kind: 'adam' } }) } }), 'recipe field optimizer.kind is "adam"', "expected 'adamw'"],
    ['a recipe without a weight decay', () => checkpoint({ weights: { recipe: JSON.stringify({ ...RECIPE, schedule: 'nanogpt', optimizer: { ...RECIPE.optimizer, weightDecay: undefined } }) } }), 'recipe field optimizer.weightDecay is undefined', 'a non-negative number'],
    ['a recipe with a negative clip norm', () => checkpoint({ weights: { recipe: JSON.stringify({ ...RECIPE, schedule: 'nanogpt', clipNorm: -1 }) } }), 'recipe field clipNorm is -1', 'a non-negative number'],
    ['weights without their vocabulary', () => checkpoint({ weights: { vocab: undefined as unknown as string } }), 'not a character transformer checkpoint', 'no vocab'],
    ['optimizer state from another step', () => checkpoint({ optimizer: { step: '11' } }), 'step 12', 'step 11'],
  ])('refuses %s, writing nothing', async (_what, make, ...parts) => {
    const r = await exportKit(make());
    expect(r.status).not.toBe(0);
    for (const part of parts) expect(r.message).toContain(part);
    expect(existsSync(r.out)).toBe(false);
  });
});
