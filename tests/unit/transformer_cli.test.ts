import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nanoGptLearningRate } from '../../src/cli/transformer.js';
import { decodeSafetensors, encodeSafetensors } from '../../src/train/safetensors.js';
import { runCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'transformer-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, data: string | Uint8Array) => {
  const path = join(dir, name);
  writeFileSync(path, data);
  return path;
};
const text = file('t.txt', 'the cat sat on the mat. a dog ate the hat. '.repeat(30));
const tiny = ['--context', '8', '--layers', '1', '--heads', '2', '--dim', '8', '--batch', '4'];

describe('webgpu-dl train --model transformer / sample', () => {
  it('trains, prints an eval event per --eval-every and a done event, saves weights with configuration and vocabulary, and samples from them', async () => {
    const out = join(dir, 'tf.safetensors');
    const run = await runCli(['train', '--model', 'transformer', '--data', text, ...tiny, '--steps', '6', '--eval-every', '3', '--json', '--out', out]);
    expect(run.status, run.err.join('\n')).toBe(0);
    const events = run.out.map((l) => JSON.parse(l) as Record<string, number | string>);
    expect(events.map((e) => `${e.event}${e.step ?? ''}`)).toEqual(['eval3', 'eval6', 'done']);
    for (const e of events.slice(0, 2)) {
      expect(Object.keys(e)).toEqual(['event', 'step', 'trainLoss', 'valLoss', 'tokensPerSec']);
      expect(e.valLoss).toBeGreaterThan(0);
      expect(e.tokensPerSec).toBeGreaterThan(0);
    }
    expect(events[2].valLoss).toBe(events[1].valLoss);
    expect(events[2].seconds).toBeGreaterThan(0);
    const { metadata, tensors } = decodeSafetensors(new Uint8Array(readFileSync(out)));
    expect(metadata.model).toBe('transformer');
    expect(JSON.parse(metadata.transformer)).toEqual({ vocab: 13, context: 8, layers: 1, heads: 2, dim: 8, dropout: 0 });
    expect(JSON.parse(metadata.vocab)).toEqual([' ', '.', 'a', 'c', 'd', 'e', 'g', 'h', 'm', 'n', 'o', 's', 't']);
    expect(tensors.get('lm_head.weight')!.shape).toEqual([13, 8]);
    const optimizer = decodeSafetensors(new Uint8Array(readFileSync(join(dir, 'tf.optimizer.safetensors')))).metadata;
    expect([optimizer.optimizer, optimizer.step, optimizer.run_id]).toEqual(['adamw', '6', metadata.run_id]);

    const sample = await runCli(['sample', '--weights', out, '--prompt', 'the ', '--tokens', '12', '--seed', '3']);
    expect(sample.status, sample.err.join('\n')).toBe(0);
    expect(sample.out).toHaveLength(1);
    const generated = Array.from(sample.out[0]);
    expect(sample.out[0].startsWith('the ')).toBe(true);
    expect(generated).toHaveLength(16);
    expect(generated.every((c) => JSON.parse(metadata.vocab).includes(c))).toBe(true);
    const again = await runCli(['sample', '--weights', out, '--prompt', 'the ', '--tokens', '12', '--seed', '3']);
    expect(again.out).toEqual(sample.out);

    const outside = await runCli(['sample', '--weights', out, '--prompt', 'THE']);
    expect(outside.status).toBe(2);
    expect(outside.err.join('\n')).toMatch(/--prompt: character "T" \(U\+0054\) at position 0 is not in the model's vocabulary of 13 characters/);
  }, 240_000);

  it('says what is wrong with the text, in one line and a non-zero status', async () => {
    const cases: [string, string | Uint8Array, RegExp][] = [
      ['empty.txt', '', /empty.txt: the text is empty; give a UTF-8 text file of at least 81 characters/],
      ['latin1.txt', Uint8Array.of(0x63, 0x61, 0x66, 0xe9, 0x20, 0x6f, 0x6b), /latin1.txt: the file is not UTF-8 text \(invalid by byte offset 4\)/],
      ['short.txt', 'abcdefghijklmnop', /short.txt: the text has 16 characters, so its 10% validation split holds 2; a window needs context \+ 1 = 9/],
    ];
    for (const [name, data, message] of cases) {
      const run = await runCli(['train', '--model', 'transformer', '--data', file(name, data), ...tiny]);
      expect(run.status, name).toBe(1);
      expect(run.err.at(-1), run.err.join('|')).toMatch(message);
    }
    const missing = await runCli(['train', '--model', 'transformer', '--data', join(dir, 'none.txt'), ...tiny]);
    expect(missing.status).toBe(1);
    expect(missing.err.at(-1)).toMatch(/none.txt: no such file/);
  });

  it('refuses bad flags with status 2 before training', async () => {
    const cases: [string[], RegExp][] = [
      [['--model', 'transformer'], /--model transformer needs --data FILE.txt/],
      [['--model', 'transformer', '--data', text, '--dim', '10', '--heads', '4'], /--dim 10 must be a multiple of --heads 4/],
      [['--model', 'transformer', '--data', text, '--context', '0'], /--context 0: expected a positive integer/],
      [['--model', 'transformer', '--data', text, '--epochs', '3'], /Unknown option '--epochs'/],
      [['--model=transformer', '--data', text, '--lr', '-1'], /--lr -1: expected a positive number/],
      [['--model', 'transformer', '--data', text, '--context', '8', '--batch', '5000'], /--batch 5000: the training split holds only \d+ distinct windows/],
    ];
    for (const [args, message] of cases) {
      const run = await runCli(['train', ...args]);
      expect(run.status, args.join(' ')).toBe(2);
      expect(run.err.at(-1)).toMatch(message);
    }
    const help = await runCli(['train', '--model', 'transformer', '--help']);
    expect(help.status).toBe(0);
    expect(help.out.join('\n')).toMatch(/usage: webgpu-dl train --model transformer --data FILE.txt/);
  });

  it('sample refuses a missing --weights and a checkpoint of another model', async () => {
    const none = await runCli(['sample']);
    expect(none.status).toBe(2);
    expect(none.err.at(-1)).toMatch(/sample needs --weights FILE/);
    const mlp = file('mlp.safetensors', encodeSafetensors([{ name: '1.weight', shape: [2, 2], data: new Float32Array(4) }], { format: 'pt' }));
    const run = await runCli(['sample', '--weights', mlp]);
    expect(run.status).toBe(1);
    expect(run.err.at(-1)).toMatch(/mlp.safetensors: not a character transformer checkpoint \(its metadata has model=\(none\), no transformer configuration, no vocab\)/);
    expect(existsSync(mlp)).toBe(true);
  });

  it('follows nanoGPT\'s schedule: linear warm-up, cosine to the floor at the last step', () => {
    const o = { lr: 1e-3, min: 1e-4, warmup: 100, steps: 2000 };
    expect(nanoGptLearningRate(0, o)).toBeCloseTo(1e-3 / 101, 12);
    expect(nanoGptLearningRate(99, o)).toBeCloseTo(1e-3 * (100 / 101), 12);
    expect(nanoGptLearningRate(100, o)).toBeCloseTo(1e-3, 12);
    expect(nanoGptLearningRate(1050, o)).toBeCloseTo(5.5e-4, 12);
    expect(nanoGptLearningRate(2000, o)).toBeCloseTo(1e-4, 12);
  });
});
