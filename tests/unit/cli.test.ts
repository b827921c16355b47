import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseTrainArgs, type TrainArgs } from '../../src/cli/args.js';
import { encodeIdx } from '../../src/data/idx.js';
import { IDX_FILES } from '../../src/data/idx_files.js';
import { decodeSafetensors } from '../../src/train/safetensors.js';
import { runCli } from '../helpers/cli.js';
import { rng } from '../helpers/random.js';

const dir = mkdtempSync(join(tmpdir(), 'cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A tiny 6×6, 3-class dataset whose class is which third of the image is bright. */
function writeDataset(count: number, images: string, labels: string): void {
  const next = rng(count);
  const pixels = new Uint8Array(count * 36);
  const classes = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const c = i % 3;
    classes[i] = c;
    for (let p = 0; p < 36; p++) pixels[i * 36 + p] = Math.floor(p / 12) === c ? 200 + next() * 55 : next() * 60;
  }
  writeFileSync(join(dir, images), encodeIdx([count, 6, 6], pixels));
  writeFileSync(join(dir, labels), encodeIdx([count], classes));
}
const TRAIN_COUNT = 300;
writeDataset(TRAIN_COUNT, IDX_FILES.trainImages, IDX_FILES.trainLabels);
writeDataset(90, IDX_FILES.testImages, IDX_FILES.testLabels);

const run = runCli;

describe('webgpu-dl train', () => {
  it('trains on an IDX folder, prints JSON lines and saves PyTorch-named weights', async () => {
    const out = join(dir, 'w.safetensors');
    const r = await run(['train', '--data', dir, '--epochs', '3', '--batch', '30', '--lr', '0.01', '--json', '--out', out]);
    expect(r.err.filter((l) => !l.startsWith('webgpu-dl:'))).toEqual([]);
    expect(r.status).toBe(0);
    const lines = r.out.map((l) => JSON.parse(l));
    expect(lines.map((l) => l.event)).toEqual(['epoch', 'epoch', 'epoch', 'done']);
    for (const l of lines.slice(0, 3)) {
      expect(Object.keys(l)).toEqual(expect.arrayContaining(['epoch', 'loss', 'trainAccuracy', 'testAccuracy', 'samplesPerSec']));
    }
    expect(lines[2].loss).toBeLessThan(lines[0].loss);
    expect(lines[3].testAccuracy).toBeGreaterThan(0.9);
    expect(lines[3].seconds).toBeGreaterThan(0);
    const { tensors } = decodeSafetensors(new Uint8Array(readFileSync(out)));
    expect([...tensors.keys()]).toEqual(['1.weight', '1.bias', '3.weight', '3.bias', '5.weight', '5.bias']);
    expect(tensors.get('1.weight')!.shape).toEqual([256, 36]);
    expect(tensors.get('5.weight')!.shape).toEqual([3, 256]);
    // Adam's state beside the weights, one step per full batch of 30.
    const state = decodeSafetensors(new Uint8Array(readFileSync(join(dir, 'w.optimizer.safetensors'))));
    expect(state.metadata).toMatchObject({ content: 'optimizer', optimizer: 'adam', step: String(3 * Math.floor(TRAIN_COUNT / 30)) });
    expect([...state.tensors.keys()].sort()).toEqual(['1.weight', '1.bias', '3.weight', '3.bias', '5.weight', '5.bias'].flatMap((n) => [`${n}.exp_avg`, `${n}.exp_avg_sq`]).sort());
  });

  it('trains a GAN, printing D and G losses, and writes generator weights and a sample grid', async () => {
    const out = join(dir, 'g.safetensors');
    const r = await run(['train', '--model', 'gan', '--data', dir, '--epochs', '2', '--limit', '60', '--batch', '30', '--json', '--out', out]);
    expect(r.status).toBe(0);
    const lines = r.out.map((l) => JSON.parse(l));
    expect(lines.map((l) => l.event)).toEqual(['epoch', 'epoch', 'done']);
    for (const l of lines) expect(Number.isFinite(l.dLoss) && Number.isFinite(l.gLoss)).toBe(true);
    expect(lines[0].iterationsPerSec).toBeGreaterThan(0);
    expect(lines[2].samples).toBe(join(dir, 'g.png'));
    const png = readFileSync(join(dir, 'g.png'));
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(decodeSafetensors(new Uint8Array(readFileSync(out))).tensors.get('4.weight')!.shape).toEqual([36, 512]);
  });

  it('picks per-model defaults: batch 128 for the MLP, 64 for the CNN (as the W3 benchmark) and the GAN', () => {
    const batch = (model: string) => (parseTrainArgs(['--model', model]) as TrainArgs).batch;
    expect([batch('mlp'), batch('cnn'), batch('gan')]).toEqual([128, 64, 64]);
    expect((parseTrainArgs(['--model', 'cnn', '--batch', '32']) as TrainArgs).batch).toBe(32);
  });

  it('answers bad flags and bad data with one line and a non-zero status', async () => {
    for (const [args, pattern, status] of [
      [['train', '--epochs', '0'], /^webgpu-dl: --epochs 0: expected a positive integer$/, 2],
      [['train', '--lr', 'fast'], /^webgpu-dl: --lr fast: expected a positive number$/, 2],
      [['train', '--model', 'rnn'], /^webgpu-dl: --model rnn: expected mlp, cnn, gan or transformer$/, 2],
      [['train', '--nope'], /^webgpu-dl: Unknown option '--nope'/, 2],
      [['fly'], /^webgpu-dl: unknown command 'fly'/, 2],
      [['train', '--schedule', 'step'], /^webgpu-dl: --schedule step: expected cosine or constant$/, 2],
      [['train', '--model', 'gan', '--schedule', 'cosine'], /applies to mlp and cnn/, 2],
      [['train', '--augment', 'shift=-1'], /^webgpu-dl: --augment shift=-1: shift -1 must be a number ≥ 0 .*e\.g\. shift=2$/, 2],
      [['train', '--augment', 'rotate=190,scale=0.1'], /^webgpu-dl: --augment rotate=190,scale=0.1: rotate 190 exceeds 180 degrees/, 2],
      [['train', '--augment', 'scale=1.5'], /^webgpu-dl: --augment scale=1.5: scale 1.5 must be below 1/, 2],
      [['train', '--augment', 'tilt=3'], /^webgpu-dl: --augment tilt=3: unknown option 'tilt'; the options are shift/, 2],
      [['train', '--augment', 'shift=two'], /^webgpu-dl: --augment shift=two: shift=two is not a number$/, 2],
      [['train', '--augment', 'shift'], /^webgpu-dl: --augment shift: expected key=value pairs separated by commas/, 2],
      [['train', '--model', 'gan', '--augment', 'shift=2'], /^webgpu-dl: --augment applies to mlp and cnn/, 2],
      // The image size is known once the data is loaded: refused before any training.
      [['train', '--data', dir, '--augment', 'shift=6'], /^webgpu-dl: augment: shift 6 reaches the image size 6×6; use a shift below 6 pixels$/, 1],
      [['train', '--data', join(dir, 'missing')], /missing: no such folder/, 1],
      [['train', '--data', dir, '--batch', '1e12'], new RegExp(`^webgpu-dl: --batch 1000000000000: the training set has only ${TRAIN_COUNT} samples$`), 2],
      [['train', '--data', join(dir, 'w.safetensors')], /no such folder/, 1],
      // A negative number is the flag's value, so its own check answers (not "argument is ambiguous").
      [['train', '--epochs', '-1'], /^webgpu-dl: --epochs -1: expected a positive integer$/, 2],
      [['train', '--lr', '-0.1'], /^webgpu-dl: --lr -0.1: expected a positive number$/, 2],
      [['train', '--limit', '-Infinity'], /^webgpu-dl: --limit -Infinity: expected a positive integer$/, 2],
      [['train', '--lr', '1e400'], /^webgpu-dl: --lr 1e400: expected a positive number$/, 2],
      [['train', '--limit', '0'], /^webgpu-dl: --limit 0: expected a positive integer$/, 2],
      [['train', '--epochs', '99999999999999999999'], /^webgpu-dl: --epochs 99999999999999999999: expected an integer in \[1, 9007199254740991\]$/, 2],
      [['train', '--epochs', ''], /^webgpu-dl: --epochs : expected a positive integer$/, 2],
      [['train', '--data', ' '], /^webgpu-dl: --data ' ': expected a path$/, 2],
      // Seeds are 32-bit; refused before the data is read or the engine started.
      [['train', '--seed', '4294967296'], /^webgpu-dl: --seed 4294967296: expected an integer in \[0, 4294967295\]$/, 2],
      [['train', '--seed', '1e300'], /^webgpu-dl: --seed 1e300: expected an integer in \[0, 4294967295\]$/, 2],
      [['train', '--epochs', '2', '--epochs=3'], /^webgpu-dl: --epochs is given twice \(--epochs 2, then --epochs 3\); give it once$/, 2],
      [['train', '--json', '--json'], /^webgpu-dl: --json is given twice/, 2],
      [['train', '--classes', '1'], /^webgpu-dl: --classes 1: expected an integer in \[2, 256\]$/, 2],
      [['train', '--classes', '300'], /^webgpu-dl: --classes 300: expected an integer in \[2, 256\]$/, 2],
      [['profile', '--batch', '-5'], /^webgpu-dl: --batch -5: expected a positive integer$/, 2],
      // An empty --data is a folder that is not there, not a request for the default data.
      [['profile', '--data', ''], /^webgpu-dl: : no such folder; --data takes a folder/, 1],
      [['profile', '--seed', '-1'], /^webgpu-dl: --seed -1: expected an integer in \[0, 4294967295\]$/, 2],
      [['compress', '--weights', 'w', '--prune', '-0.5'], /^webgpu-dl: --prune -0.5: expected a fraction in \[0, 1\)$/, 2],
      [['compress', '--weights', 'w', '--quantize', '--limit', '-2'], /^webgpu-dl: --limit -2: expected a positive integer$/, 2],
      [['compress', '--weights', 'w', '--quantize', '--seed', '4294967296'], /^webgpu-dl: --seed 4294967296: expected an integer/, 2],
    ] as const) {
      const r = await run([...args]);
      expect(r.status, args.join(' ')).toBe(status);
      expect(r.err).toHaveLength(1);
      expect(r.err[0]).toMatch(pattern);
    }
    const bad = mkdtempSync(join(dir, 'bad-'));
    for (const name of Object.values(IDX_FILES)) writeFileSync(join(bad, name), Uint8Array.of(1, 2, 3, 4, 5));
    const r = await run(['train', '--data', bad]);
    expect([r.status, r.err.length]).toEqual([1, 1]);
    expect(r.err[0]).toMatch(/not an IDX file/);
  });

  it('runs as a program: help, and an error without a stack trace', () => {
    const bin = join(__dirname, '../../bin/webgpu-dl.js');
    const help = execFileSync('node', [bin, '--help'], { encoding: 'utf8' });
    expect(help).toMatch(/usage: webgpu-dl train/);
    expect(help).toMatch(/profile .*\n\s+compress /);
    const r = spawnSync('node', [bin, 'train', '--batch', '-3'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n').filter((l) => l.startsWith('webgpu-dl'))).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('webgpu-dl profile', () => {
  it('times every kernel of one training step', async () => {
    const r = await run(['profile', '--data', dir, '--batch', '30', '--json']);
    expect(r.status).toBe(0);
    const [p] = r.out.map((l) => JSON.parse(l));
    expect(p).toMatchObject({ event: 'profile', model: 'mlp', batch: 30 });
    const names = p.kernels.map((k: { name: string }) => k.name);
    expect(names).toContain('gather_batch');
    // The Trainer's update skips a step whose health check failed: the guarded Adam kernel.
    expect(names).toContain('adam_guarded');
    expect(names.join(' ')).toMatch(/matmul/);
    expect(p.kernels.reduce((a: number, k: { launches: number }) => a + k.launches, 0)).toBe(p.launches);
    expect(p.totalMs).toBeGreaterThan(0);
    const text = await run(['profile', '--data', dir, '--batch', '30']);
    expect(text.out[0]).toMatch(/^kernel\s+launches\s+ms\/step\s+share$/);
    expect(text.out.some((l) => /^total\s+\d+\s+[\d.]+$/.test(l))).toBe(true);
  });
});

describe('webgpu-dl compress', () => {
  it('prunes, fine-tunes and quantises trained weights, measuring each stage', async () => {
    const weights = join(dir, 'dense.safetensors');
    expect((await run(['train', '--data', dir, '--epochs', '3', '--batch', '30', '--lr', '0.01', '--json', '--out', weights])).status).toBe(0);
    const out = join(dir, 'small.safetensors');
    const r = await run(['compress', '--weights', weights, '--data', dir, '--prune', '0.5', '--batch', '30', '--quantize', '--json', '--out', out]);
    expect(r.status).toBe(0);
    const stages = r.out.map((l) => JSON.parse(l));
    expect(stages.map((s) => s.stage)).toEqual(['dense', 'pruned', 'fine-tuned', 'int8']);
    expect(stages[0].testAccuracy).toBeGreaterThan(0.9);
    expect(stages[0].sparsity).toBe(0);
    // round(0.5 · n) of the n weights of the three weight matrices, ranked together.
    const n = 256 * 36 + 256 * 256 + 3 * 256;
    for (const s of stages.slice(1)) expect(s.sparsity).toBeCloseTo(Math.round(0.5 * n) / n, 9);
    expect(stages[3].bytes).toBeLessThan(stages[0].bytes / 3);
    for (const s of stages) expect(s.testAccuracy).toBeGreaterThan(0.5);
    const file = decodeSafetensors(new Uint8Array(readFileSync(out)));
    expect([...file.int8.keys()]).toEqual(['1.weight', '3.weight', '5.weight']);
    expect(file.tensors.get('1.weight_scale')!.shape).toEqual([256]);
    expect(file.tensors.get('1.bias')!.shape).toEqual([256]);
  });

  it('answers bad flags with one line and status 2', async () => {
    for (const [args, pattern] of [
      [['compress'], /^webgpu-dl: --weights FILE is required/],
      [['compress', '--weights', 'w', '--prune', '1'], /^webgpu-dl: --prune 1: expected a fraction in \[0, 1\)$/],
      [['compress', '--weights', 'w', '--finetune', '2'], /--finetune applies after pruning/],
      [['compress', '--weights', 'w'], /nothing to do/],
      [['compress', '--weights', join(dir, 'none.safetensors'), '--quantize'], /none\.safetensors: no such file$/],
      [['compress', '--weights', 'w', '--prune', '0.5', '--scope', 'row'], /--scope row: expected global or per-layer/],
      [['profile', '--model', 'gan'], /^webgpu-dl: --model gan: expected mlp or cnn$/],
      [['profile', '--batch', '0'], /^webgpu-dl: --batch 0: expected a positive integer$/],
    ] as const) {
      const r = await run([...args]);
      expect(r.err, args.join(' ')).toHaveLength(1);
      expect(r.err[0]).toMatch(pattern);
      expect(r.status).toBe(2);
    }
  });
});
