import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { decodeSafetensors } from '../../src/train/safetensors.js';
import { runCli } from '../helpers/cli.js';
import { rng } from '../helpers/random.js';
import { writesStoppedAfter } from '../helpers/stopped_writes.js';

// The atomic writer, stoppable after a given number of writes as a dying process would stop it.
vi.mock('../../src/io/atomic_write.js', async (original) => (await import('../helpers/stopped_writes.js')).stoppableWriter(await original()));

const { PNG } = createRequire(import.meta.url)('pngjs');
const root = mkdtempSync(join(tmpdir(), 'resnet-resume-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const path = (name: string) => join(root, name);

/** An image folder of 8×8 PNGs, 16 per class in train and 4 in test, each class a tint. */
function imageFolder(): string {
  const dir = path('images');
  const next = rng(5);
  for (const [split, per] of [['train', 16], ['test', 4]] as const) {
    for (const [c, name] of ['red', 'green', 'blue'].entries()) {
      mkdirSync(join(dir, split, name), { recursive: true });
      for (let i = 0; i < per; i++) {
        const png = new PNG({ width: 8, height: 8 });
        for (let k = 0; k < png.data.length; k++) png.data[k] = k % 4 === 3 ? 255 : Math.floor(next() * 128) + (k % 4 === c ? 127 : 0);
        writeFileSync(join(dir, split, name, `${i}.png`), PNG.sync.write(png));
      }
    }
  }
  return dir;
}
const data = imageFolder();

// 48 images in batches of 10: 4 steps an epoch; checkpoints every 3 steps fall mid-epoch (epoch 1
// step 3, epoch 2 step 2). Crops and flips on (the recipe's default), batch norm's running
// statistics and SGD's momentum carried over.
const flags = (...more: string[]) => ['train', '--model', 'resnet', '--data', data, '--depth', '8', '--width', '4', '--epochs', '2', '--batch', '10', '--lr', '0.05', '--json', ...more];
const events = (lines: string[]) =>
  lines.map((l) => {
    const { samplesPerSec: _speed, seconds: _seconds, ...rest } = JSON.parse(l) as Record<string, number | string>;
    return rest;
  });
const bytesOf = (file: string) => new Uint8Array(readFileSync(file));
const tensorsOf = (file: string) => [...decodeSafetensors(bytesOf(file)).tensors.values()].map((t) => ({ name: t.name, shape: t.shape, data: Array.from(t.data) }));

describe('webgpu-dl train --model resnet --checkpoint-every / --resume', () => {
  it('a run stopped after a mid-epoch checkpoint and resumed from it ends bit for bit as the uninterrupted run, with the same epoch events', async () => {
    const straight = await runCli(flags('--out', path('a.safetensors')));
    expect(straight.status, straight.err.join('\n')).toBe(0);
    const all = events(straight.out);
    expect(all.map((e) => `${e.event}${e.epoch ?? ''}`)).toEqual(['epoch1', 'epoch2', 'done']);

    const stopped = await writesStoppedAfter(1, () => runCli(flags('--out', path('b.safetensors'), '--checkpoint-every', '3')));
    expect(stopped.status).toBe(1);
    expect(stopped.err.at(-1)).toMatch(/b.safetensors: could not be written \(the process was stopped\)/);
    const saved = JSON.parse(decodeSafetensors(bytesOf(path('b.safetensors'))).metadata.resume) as { steps: number; epoch: number; epochStep: number };
    expect([3, 6]).toContain(saved.steps);
    // The checkpoint is a model file as --out writes it: configuration and recipe included.
    expect(decodeSafetensors(bytesOf(path('b.safetensors'))).metadata).toMatchObject({ model: 'resnet' });

    const resumed = await runCli(flags('--out', path('b.safetensors'), '--resume', path('b.safetensors')));
    expect(resumed.status, resumed.err.join('\n')).toBe(0);
    expect(resumed.err.join('\n')).toMatch(new RegExp(`resumed from .*b.safetensors at step ${saved.steps} \\(epoch ${saved.epoch}, step ${saved.epochStep} of 4\\)`));
    expect(all.slice(0, stopped.out.length)).toEqual(events(stopped.out));
    expect(events(resumed.out)).toEqual(all.slice(saved.epoch - 1));
    expect(tensorsOf(path('b.safetensors'))).toEqual(tensorsOf(path('a.safetensors')));
    expect(tensorsOf(path('b.optimizer.safetensors'))).toEqual(tensorsOf(path('a.optimizer.safetensors')));

    const cases: [string[], RegExp][] = [
      [flags('--resume', path('b.safetensors'), '--seed', '2'), /--resume .*b.safetensors: the checkpoint was saved by a run with --seed 1, this run has --seed 2; resume with the settings and data of the run that saved it/],
      [flags('--resume', path('b.safetensors'), '--augment', 'none'), /saved by a run with --augment \{"crop":4,"flip":true\}, this run has --augment none/],
      [flags('--resume', path('b.safetensors'), '--limit', '40'), /saved by a run with data sha256 [0-9a-f]{64} \(\d+ bytes\), this run has data sha256/],
      [flags('--resume', path('a.safetensors')), /a.safetensors: the checkpoint is at step 8 of 8; that run is complete/],
    ];
    for (const [argv, message] of cases) {
      const run = await runCli(argv);
      expect(run.status, message.source).toBe(1);
      expect(run.err.at(-1), run.err.join('|')).toMatch(message);
      expect(run.out).toEqual([]);
    }
    const usage = await runCli(flags('--checkpoint-every', '3'));
    expect(usage.status).toBe(2);
    expect(usage.err.at(-1)).toMatch(/--checkpoint-every needs --out FILE/);
  }, 600_000);
});
