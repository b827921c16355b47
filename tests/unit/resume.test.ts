import { describe, expect, it } from 'vitest';
import { checkpointDue, checkSameRun, dataFingerprint, readResumePoint, ResumeError, resumeMetadata } from '../../src/cli/resume.js';
import { WebGPUDLError } from '../../src/gpu/errors.js';

describe('resume entries of checkpoints', () => {
  it('round-trips a resume point through the metadata', () => {
    const point = { steps: 50, runs: 51, updates: 50, settings: { model: 'transformer', '--dim': '128' } };
    expect(readResumePoint(resumeMetadata(point), 'f')).toEqual(point);
  });

  it('refuses a malformed entry with a ResumeError naming the file and the field', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{}, /--resume f: not a checkpoint to resume from \(its metadata has no 'resume' entry\)/],
      [{ resume: '{' }, /--resume f: the metadata's 'resume' entry is not a JSON object/],
      [{ resume: '[1]' }, /'resume' entry is not a JSON object \(not an object\)/],
      [{ resume: JSON.stringify({ steps: -1, runs: 0, updates: 0, settings: {} }) }, /'resume.steps' is -1, not a non-negative integer/],
      [{ resume: JSON.stringify({ steps: 1, runs: 1.5, updates: 0, settings: {} }) }, /'resume.runs' is 1.5/],
      [{ resume: JSON.stringify({ steps: 1, runs: 1, updates: 1, settings: { a: 1 } }) }, /'resume.settings' must be a JSON object of strings/],
    ];
    for (const [metadata, message] of cases) {
      let error: unknown;
      try {
        readResumePoint(metadata, 'f');
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ResumeError);
      expect(error).toBeInstanceOf(WebGPUDLError);
      expect((error as Error).message).toMatch(message);
    }
  });

  it('names the first setting that differs, a missing one included', () => {
    expect(() => checkSameRun('f', { model: 'transformer', '--dim': '8' }, { model: 'transformer', '--dim': '8' })).not.toThrow();
    expect(() => checkSameRun('f', { model: 'mlp', '--dim': '8' }, { model: 'transformer', '--dim': '16' })).toThrow(/saved by a run with model mlp, this run has model transformer/);
    expect(() => checkSameRun('f', { model: 'transformer' }, { model: 'transformer', '--seed': '2' })).toThrow(/with --seed \(not set\), this run has --seed 2/);
    expect(() => checkSameRun('f', { model: 'transformer', '--extra': 'x' }, { model: 'transformer' })).toThrow(/with --extra x, this run has --extra \(not set\)/);
  });

  it('fingerprints data by content and length, and tells when a checkpoint is due', () => {
    const a = dataFingerprint(new TextEncoder().encode('abc'));
    expect(a).toBe('sha256 ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad (3 bytes)');
    expect(dataFingerprint(new TextEncoder().encode('abd'))).not.toBe(a);
    expect([1, 2, 3, 4, 6].filter((d) => checkpointDue(d, 2))).toEqual([2, 4, 6]);
    expect(checkpointDue(4, undefined)).toBe(false);
  });
});
