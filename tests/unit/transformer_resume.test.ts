import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { decodeSafetensors, encodeSafetensors } from '../../src/train/safetensors.js';
import { runCli } from '../helpers/cli.js';
import { writesStoppedAfter } from '../helpers/stopped_writes.js';

// The atomic writer, stoppable after a given number of writes as a dying process would stop it.
vi.mock('../../src/io/atomic_write.js', async (original) => (await import('../helpers/stopped_writes.js')).stoppableWriter(await original()));

const dir = mkdtempSync(join(tmpdir(), 'transformer-resume-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const path = (name: string) => join(dir, name);
const text = path('t.txt');
writeFileSync(text, 'the cat sat on the mat. a dog ate the hat. '.repeat(30));
const other = path('other.txt');
writeFileSync(other, 'the cat sat on the mat. a dog ate the hat! '.repeat(30));
// Dropout on, so the resumed run must also continue the dropout masks' streams.
const flags = (data: string, ...more: string[]) => {
  const set: Record<string, string> = { context: '8', layers: '1', heads: '2', dim: '8', batch: '4', dropout: '0.1', steps: '6', 'eval-every': '2' };
  const rest: string[] = [];
  for (let i = 0; i < more.length; i++) {
    const name = more[i].slice(2);
    if (name in set) set[name] = more[++i];
    else rest.push(more[i]);
  }
  return ['train', '--model', 'transformer', '--data', data, ...Object.entries(set).flatMap(([k, v]) => [`--${k}`, v]), '--json', ...rest];
};
// tokensPerSec is a measured speed; every other field of an event must repeat exactly.
const events = (lines: string[]) =>
  lines.map((l) => {
    const { tokensPerSec: _speed, seconds: _seconds, ...rest } = JSON.parse(l) as Record<string, number | string>;
    return rest;
  });
const bytesOf = (file: string) => new Uint8Array(readFileSync(file));
const tensorsOf = (file: string) => [...decodeSafetensors(bytesOf(file)).tensors.values()].map((t) => ({ name: t.name, shape: t.shape, data: Array.from(t.data) }));

describe('webgpu-dl train --model transformer --checkpoint-every / --resume', () => {
  it('a run stopped after a checkpoint and resumed from it ends bit for bit as the uninterrupted run, with the same eval events', async () => {
    const straight = await runCli(flags(text, '--out', path('a.safetensors')));
    expect(straight.status, straight.err.join('\n')).toBe(0);

    // Checkpoints every 2 steps; the process "dies" writing the second (step 4), after that step's evaluation.
    const stopped = await writesStoppedAfter(1, () => runCli(flags(text, '--out', path('b.safetensors'), '--checkpoint-every', '2')));
    expect(stopped.status).toBe(1);
    expect(stopped.err.at(-1)).toMatch(/b.safetensors: could not be written \(the process was stopped\)/);
    expect(decodeSafetensors(bytesOf(path('b.optimizer.safetensors'))).metadata.step).toBe('2');
    copyFileSync(path('b.optimizer.safetensors'), path('step2.optimizer.safetensors'));
    const runId = decodeSafetensors(bytesOf(path('b.safetensors'))).metadata.run_id;

    const resumed = await runCli(flags(text, '--out', path('b.safetensors'), '--checkpoint-every', '2', '--resume', path('b.safetensors')));
    expect(resumed.status, resumed.err.join('\n')).toBe(0);
    expect(resumed.err.join('\n')).toMatch(/resumed from .*b.safetensors at step 2/);
    const all = events(straight.out);
    expect(all.map((e) => `${e.event}${e.step ?? ''}`)).toEqual(['eval2', 'eval4', 'eval6', 'done']);
    // Together the two runs print every event, the one at step 4 twice (evaluated, then lost with its checkpoint).
    expect(events(stopped.out)).toEqual(all.slice(0, 2));
    expect(events(resumed.out)).toEqual(all.slice(1));
    expect(tensorsOf(path('b.safetensors'))).toEqual(tensorsOf(path('a.safetensors')));
    expect(tensorsOf(path('b.optimizer.safetensors'))).toEqual(tensorsOf(path('a.optimizer.safetensors')));
    const finalStep = decodeSafetensors(bytesOf(path('b.optimizer.safetensors'))).metadata.step;
    expect(finalStep).toBe('6');
    // The resumed run goes on as the same run: its files keep the stopped run's id.
    for (const f of ['b.safetensors', 'b.optimizer.safetensors']) expect(decodeSafetensors(bytesOf(path(f))).metadata.run_id).toBe(runId);
  }, 600_000);

  it('refuses a checkpoint of another configuration, other data, another model, a complete run or a broken pair, in one line', async () => {
    const saved = path('a.safetensors');
    const notResumable = path('mlp.safetensors');
    writeFileSync(notResumable, encodeSafetensors([{ name: 'fc.weight', shape: [1], data: Float32Array.of(1) }], { format: 'pt', model: 'mlp' }));
    writeFileSync(path('mlp.optimizer.safetensors'), encodeSafetensors([], { format: 'pt', content: 'optimizer' }));
    const lonely = path('lonely.safetensors');
    copyFileSync(saved, lonely);
    const cases: [string[], RegExp][] = [
      [flags(text, '--resume', saved, '--dim', '16'), /--resume .*a.safetensors: the checkpoint was saved by a run with --dim 8, this run has --dim 16; resume with the settings and data of the run that saved it/],
      [flags(text, '--resume', saved, '--steps', '9'), /saved by a run with --steps 6, this run has --steps 9/],
      [flags(other, '--resume', saved), /saved by a run with data sha256 [0-9a-f]{64} \(\d+ bytes\), this run has data sha256 [0-9a-f]{64} \(\d+ bytes\)/],
      [flags(text, '--resume', notResumable), /mlp.safetensors: not a checkpoint to resume from \(its metadata has no 'resume' entry\)/],
      [flags(text, '--resume', lonely), /lonely.optimizer.safetensors is missing/],
      [flags(text, '--resume', saved), /a.safetensors: the checkpoint is at step 6 of 6; that run is complete/],
    ];
    for (const [argv, message] of cases) {
      const run = await runCli(argv);
      expect(run.status, message.source).toBe(1);
      expect(run.err.at(-1), run.err.join('|')).toMatch(message);
      expect(run.out).toEqual([]);
    }
    // Weights from step 6 with the optimizer state of step 2: not a pair written together.
    const mixed = path('mixed.safetensors');
    copyFileSync(path('b.safetensors'), mixed);
    copyFileSync(path('step2.optimizer.safetensors'), path('mixed.optimizer.safetensors'));
    const half = decodeSafetensors(bytesOf(mixed));
    const resume = JSON.parse(half.metadata.resume) as Record<string, unknown>;
    writeFileSync(mixed, encodeSafetensors([...half.tensors.values()], { ...half.metadata, resume: JSON.stringify({ ...resume, steps: 2 }) }));
    const run = await runCli(flags(text, '--resume', mixed));
    expect(run.status).toBe(1);
    expect(run.err.at(-1)).toMatch(/was not saved with the weights file loaded before it .*load the weights and the optimizer state that one checkpoint wrote together/);

    const usage = await runCli(flags(text, '--checkpoint-every', '3'));
    expect(usage.status).toBe(2);
    expect(usage.err.at(-1)).toMatch(/--checkpoint-every needs --out FILE/);
  }, 600_000);
});
