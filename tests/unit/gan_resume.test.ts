import { mkdtempSync, readFileSync, rmSync, unlinkSync, copyFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { ganCheckpointPaths } from '../../src/cli/gan_checkpoint.js';
import { encodeIdx } from '../../src/data/idx.js';
import { IDX_FILES } from '../../src/data/idx_files.js';
import { decodeSafetensors } from '../../src/train/safetensors.js';
import { runCli } from '../helpers/cli.js';
import { rng } from '../helpers/random.js';
import { writesStoppedAfter } from '../helpers/stopped_writes.js';

// The atomic writer, stoppable after a given number of writes as a dying process would stop it.
vi.mock('../../src/io/atomic_write.js', async (original) => (await import('../helpers/stopped_writes.js')).stoppableWriter(await original()));

const dir = mkdtempSync(join(tmpdir(), 'gan-resume-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const path = (name: string) => join(dir, name);
{
  const next = rng(3);
  for (const [count, images, labels] of [[60, IDX_FILES.trainImages, IDX_FILES.trainLabels], [10, IDX_FILES.testImages, IDX_FILES.testLabels]] as const) {
    writeFileSync(join(dir, images), encodeIdx([count, 6, 6], Uint8Array.from({ length: count * 36 }, () => Math.floor(next() * 256))));
    writeFileSync(join(dir, labels), encodeIdx([count], Uint8Array.from({ length: count }, (_, i) => i % 2)));
  }
}

// 60 images in batches of 10: 6 iterations an epoch; a checkpoint every 6 steps is due at the end of epochs 1 and 2.
const flags = (...more: string[]) => ['train', '--model', 'gan', '--data', dir, '--epochs', '3', '--batch', '10', '--json', ...more];
const events = (lines: string[]) =>
  lines.map((l) => {
    const { iterationsPerSec: _speed, seconds: _seconds, samples: _samples, ...rest } = JSON.parse(l) as Record<string, number | string>;
    return rest;
  });
const bytesOf = (file: string) => new Uint8Array(readFileSync(file));
const tensorsOf = (file: string) => [...decodeSafetensors(bytesOf(file)).tensors.values()].map((t) => ({ name: t.name, shape: t.shape, data: Array.from(t.data) }));
const runFiles = (out: string) => [out, ...Object.values(ganCheckpointPaths(out))];

describe('webgpu-dl train --model gan --checkpoint-every / --resume', () => {
  it('a run stopped after an epoch checkpoint and resumed from it ends bit for bit as the uninterrupted run, with the same epoch events', async () => {
    const straight = await runCli(flags('--out', path('a.safetensors')));
    expect(straight.status, straight.err.join('\n')).toBe(0);
    const all = events(straight.out);
    expect(all.map((e) => `${e.event}${e.epoch ?? ''}`)).toEqual(['epoch1', 'epoch2', 'epoch3', 'done']);

    // The process "dies" writing the second checkpoint (end of epoch 2), after printing that epoch.
    const stopped = await writesStoppedAfter(1, () => runCli(flags('--out', path('b.safetensors'), '--checkpoint-every', '6')));
    expect(stopped.status).toBe(1);
    expect(stopped.err.at(-1)).toMatch(/b.safetensors: could not be written \(the process was stopped\)/);
    expect(JSON.parse(decodeSafetensors(bytesOf(path('b.safetensors'))).metadata.resume)).toMatchObject({ steps: 6, epoch: 1 });
    for (const f of runFiles(path('b.safetensors'))) copyFileSync(f, f.replace('b.', 'early.'));
    const runIds = runFiles(path('b.safetensors')).map((f) => decodeSafetensors(bytesOf(f)).metadata.run_id);

    const resumed = await runCli(flags('--out', path('b.safetensors'), '--checkpoint-every', '6', '--resume', path('b.safetensors')));
    expect(resumed.status, resumed.err.join('\n')).toBe(0);
    expect(resumed.err.join('\n')).toMatch(/resumed from .*b.safetensors at the end of epoch 1 \(step 6\)/);
    expect(events(stopped.out)).toEqual(all.slice(0, 2));
    expect(events(resumed.out)).toEqual(all.slice(1));
    const [a, b] = [runFiles(path('a.safetensors')), runFiles(path('b.safetensors'))];
    for (let i = 0; i < a.length; i++) expect(tensorsOf(b[i]), b[i]).toEqual(tensorsOf(a[i]));
    // Each network's files keep the stopped run's id: the resumed run is the same run.
    expect(b.map((f) => decodeSafetensors(bytesOf(f)).metadata.run_id)).toEqual(runIds);
    expect(bytesOf(path('b.png'))).toEqual(bytesOf(path('a.png')));

    const early = path('early.safetensors');
    const cases: [string[], RegExp][] = [
      [flags('--resume', early, '--lr', '0.001'), /--resume .*early.safetensors: the checkpoint was saved by a run with --lr 0.0002, this run has --lr 0.001; resume with the settings and data of the run that saved it/],
      [flags('--resume', early, '--limit', '50'), /saved by a run with data sha256 [0-9a-f]{64} \(\d+ bytes\), this run has data sha256/],
      [flags('--resume', path('a.safetensors')), /a.safetensors: the checkpoint is at step 18 of 18; that run is complete/],
    ];
    unlinkSync(path('b.discriminator.optimizer.safetensors'));
    cases.push([flags('--resume', path('b.safetensors')), /--resume .*b.safetensors: .*b.discriminator.optimizer.safetensors is missing/]);
    for (const [argv, message] of cases) {
      const run = await runCli(argv);
      expect(run.status, message.source).toBe(1);
      expect(run.err.at(-1), run.err.join('|')).toMatch(message);
      expect(run.out).toEqual([]);
    }
  }, 600_000);
});
