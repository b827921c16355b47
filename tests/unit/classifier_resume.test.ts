import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { encodeIdx } from '../../src/data/idx.js';
import { IDX_FILES } from '../../src/data/idx_files.js';
import { decodeSafetensors, encodeSafetensors } from '../../src/train/safetensors.js';
import { runCli } from '../helpers/cli.js';
import { rng } from '../helpers/random.js';
import { writesStoppedAfter } from '../helpers/stopped_writes.js';

// The atomic writer, stoppable after a given number of writes as a dying process would stop it.
vi.mock('../../src/io/atomic_write.js', async (original) => (await import('../helpers/stopped_writes.js')).stoppableWriter(await original()));

const dir = mkdtempSync(join(tmpdir(), 'classifier-resume-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const path = (name: string) => join(dir, name);

/** A 6×6, 3-class IDX folder whose class is which third of the image is bright; `seed` varies the pixels. */
function dataset(name: string, seed: number): string {
  const folder = path(name);
  mkdirSync(folder);
  const write = (count: number, images: string, labels: string) => {
    const next = rng(count + seed);
    const pixels = new Uint8Array(count * 36);
    const classes = new Uint8Array(count);
    for (let i = 0; i < count; i++) {
      classes[i] = i % 3;
      for (let p = 0; p < 36; p++) pixels[i * 36 + p] = Math.floor(p / 12) === i % 3 ? 200 + next() * 55 : next() * 60;
    }
    writeFileSync(join(folder, images), encodeIdx([count, 6, 6], pixels));
    writeFileSync(join(folder, labels), encodeIdx([count], classes));
  };
  write(120, IDX_FILES.trainImages, IDX_FILES.trainLabels);
  write(30, IDX_FILES.testImages, IDX_FILES.testLabels);
  return folder;
}
const data = dataset('data', 0);
const other = dataset('other', 1);

// 120 samples in batches of 24: 5 steps an epoch, so checkpoints every 4 steps fall mid-epoch
// (epoch 1 step 4, epoch 2 step 3, epoch 3 step 2). Augmentation on, so the resumed run must also
// continue its draws; cosine, so the learning rates too.
const flags = (folder: string, ...more: string[]) => ['train', '--model', 'mlp', '--data', folder, '--epochs', '3', '--batch', '24', '--lr', '0.01', '--augment', 'shift=1,rotate=5', '--json', ...more];
// samplesPerSec and seconds are measured speeds; every other field of an event must repeat exactly.
const events = (lines: string[]) =>
  lines.map((l) => {
    const { samplesPerSec: _speed, seconds: _seconds, ...rest } = JSON.parse(l) as Record<string, number | string>;
    return rest;
  });
const bytesOf = (file: string) => new Uint8Array(readFileSync(file));
const tensorsOf = (file: string) => [...decodeSafetensors(bytesOf(file)).tensors.values()].map((t) => ({ name: t.name, shape: t.shape, data: Array.from(t.data) }));

/**
 * Trains `model` straight (`<prefix>a`), then stopped by a failed write after two checkpoints
 * (`<prefix>b`), then resumed from what that run left, and checks the resumed run ends as the
 * straight one. The stopped run's checkpoint is kept as `<prefix>early`.
 */
async function stopAndResume(model: 'mlp' | 'cnn', prefix: string): Promise<void> {
  const name = (n: string) => path(`${prefix}${n}`);
  const run = (...more: string[]) => runCli(flags(data, ...more).map((a) => (a === 'mlp' ? model : a)));
  const straight = await run('--out', name('a.safetensors'));
  expect(straight.status, straight.err.join('\n')).toBe(0);
  const all = events(straight.out);
  expect(all.map((e) => `${e.event}${e.epoch ?? ''}`)).toEqual(['epoch1', 'epoch2', 'epoch3', 'done']);

  // The process "dies" writing its third file pair (a checkpoint, or the final files).
  const stopped = await writesStoppedAfter(2, () => run('--out', name('b.safetensors'), '--checkpoint-every', '4'));
  expect(stopped.status).toBe(1);
  expect(stopped.err.at(-1)).toMatch(/b.safetensors: could not be written \(the process was stopped\)/);
  const saved = JSON.parse(decodeSafetensors(bytesOf(name('b.safetensors'))).metadata.resume) as { steps: number; epoch: number; epochStep: number };
  expect([4, 8, 12]).toContain(saved.steps);
  expect(saved.epochStep).toBeGreaterThan(0);
  expect(saved.epochStep).toBeLessThan(5);
  expect(decodeSafetensors(bytesOf(name('b.optimizer.safetensors'))).metadata.step).toBe(String(saved.steps));
  const runId = decodeSafetensors(bytesOf(name('b.safetensors'))).metadata.run_id;
  copyFileSync(name('b.optimizer.safetensors'), name('early.optimizer.safetensors'));
  copyFileSync(name('b.safetensors'), name('early.safetensors'));

  const resumed = await run('--out', name('b.safetensors'), '--checkpoint-every', '4', '--resume', name('b.safetensors'));
  expect(resumed.status, resumed.err.join('\n')).toBe(0);
  expect(resumed.err.join('\n')).toMatch(new RegExp(`resumed from .*b.safetensors at step ${saved.steps} \\(epoch ${saved.epoch}, step ${saved.epochStep} of 5\\)`));
  // The stopped run printed the epochs it finished; the resumed one prints the epoch it resumed in and the rest, as the uninterrupted run did.
  expect(all.slice(0, stopped.out.length)).toEqual(events(stopped.out));
  expect(stopped.out.length).toBeGreaterThanOrEqual(saved.epoch - 1);
  expect(events(resumed.out)).toEqual(all.slice(saved.epoch - 1));
  expect(tensorsOf(name('b.safetensors'))).toEqual(tensorsOf(name('a.safetensors')));
  expect(tensorsOf(name('b.optimizer.safetensors'))).toEqual(tensorsOf(name('a.optimizer.safetensors')));
  expect(decodeSafetensors(bytesOf(name('b.optimizer.safetensors'))).metadata.step).toBe('15');
  // The resumed run goes on as the same run: its files keep the stopped run's id.
  for (const f of ['b.safetensors', 'b.optimizer.safetensors']) expect(decodeSafetensors(bytesOf(name(f))).metadata.run_id).toBe(runId);
}

describe('webgpu-dl train --model mlp|cnn --checkpoint-every / --resume', () => {
  it('a run stopped after a mid-epoch checkpoint and resumed from it ends bit for bit as the uninterrupted run, with the same epoch events', () => stopAndResume('mlp', ''), 600_000);

  it('the same for the CNN', () => stopAndResume('cnn', 'cnn-'), 600_000);

  it('refuses a checkpoint of other flags, other data, another model, a complete run or a broken pair, in one line', async () => {
    const saved = path('early.safetensors');
    const notResumable = path('plain.safetensors');
    writeFileSync(notResumable, encodeSafetensors([{ name: 'fc.weight', shape: [1], data: Float32Array.of(1) }], { format: 'pt', model: 'mlp' }));
    writeFileSync(path('plain.optimizer.safetensors'), encodeSafetensors([], { format: 'pt', content: 'optimizer' }));
    const lonely = path('lonely.safetensors');
    copyFileSync(saved, lonely);
    const cases: [string[], RegExp][] = [
      [[...flags(data, '--resume', saved), '--seed', '2'], /--resume .*early.safetensors: the checkpoint was saved by a run with --seed 1, this run has --seed 2; resume with the settings and data of the run that saved it/],
      [flags(data, '--resume', saved, '--limit', '96'), /saved by a run with data sha256 [0-9a-f]{64} \(\d+ bytes\), this run has data sha256 [0-9a-f]{64} \(\d+ bytes\)/],
      [flags(other, '--resume', saved), /saved by a run with data sha256 [0-9a-f]{64} \(\d+ bytes\), this run has data sha256/],
      [flags(data, '--resume', saved, '--schedule', 'constant'), /saved by a run with --schedule cosine, this run has --schedule constant/],
      [flags(data, '--resume', saved).map((a) => (a === 'mlp' ? 'cnn' : a)), /saved by a run with model mlp, this run has model cnn/],
      [flags(data, '--resume', notResumable), /plain.safetensors: not a checkpoint to resume from \(its metadata has no 'resume' entry\)/],
      [flags(data, '--resume', lonely), /lonely.optimizer.safetensors is missing/],
      [flags(data, '--resume', path('a.safetensors')), /a.safetensors: the checkpoint is at step 15 of 15; that run is complete/],
    ];
    for (const [argv, message] of cases) {
      const run = await runCli(argv);
      expect(run.status, message.source).toBe(1);
      expect(run.err.at(-1), run.err.join('|')).toMatch(message);
      expect(run.err.at(-1)).not.toMatch(/\n/);
      expect(run.out).toEqual([]);
    }
    // The final weights with an early optimizer state, posing as a checkpoint: not a pair written together.
    const mixed = path('mixed.safetensors');
    const final = decodeSafetensors(bytesOf(path('a.safetensors')));
    const early = JSON.parse(decodeSafetensors(bytesOf(saved)).metadata.resume) as Record<string, unknown>;
    writeFileSync(mixed, encodeSafetensors([...final.tensors.values()], { ...final.metadata, resume: JSON.stringify(early) }));
    copyFileSync(path('early.optimizer.safetensors'), path('mixed.optimizer.safetensors'));
    const run = await runCli(flags(data, '--resume', mixed));
    expect(run.status).toBe(1);
    expect(run.err.at(-1)).toMatch(/mixed.safetensors: its run_id is [0-9a-f]+ but .*mixed.optimizer.safetensors's is [0-9a-f]+: not a pair one checkpoint wrote together/);

    // A pair without step counts (both halves agree, but on nothing).
    const stepless = path('stepless.safetensors');
    for (const [from, to] of [[saved, stepless], [path('early.optimizer.safetensors'), path('stepless.optimizer.safetensors')]]) {
      const { tensors, metadata } = decodeSafetensors(bytesOf(from));
      const { step: _step, ...rest } = metadata;
      writeFileSync(to, encodeSafetensors([...tensors.values()], rest));
    }
    const noStep = await runCli(flags(data, '--resume', stepless));
    expect(noStep.status).toBe(1);
    expect(noStep.err.at(-1)).toMatch(/--resume .*stepless.safetensors: its step count 'undefined' is not a non-negative integer/);

    const usage = await runCli(flags(data, '--checkpoint-every', '3'));
    expect(usage.status).toBe(2);
    expect(usage.err.at(-1)).toMatch(/--checkpoint-every needs --out FILE/);
  }, 600_000);
});
