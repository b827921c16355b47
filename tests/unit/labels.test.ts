import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { classCount, imageDataset } from '../../src/data/dataset.js';
import { DatasetError, encodeIdx } from '../../src/data/idx.js';
import { IDX_FILES, loadIdxFolder } from '../../src/data/idx_files.js';

const root = mkdtempSync(join(tmpdir(), 'labels-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** An IDX folder of 2×2 images with the given train and test labels. */
function folder(name: string, train: number[], test: number[]): string {
  const dir = join(root, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  const write = (file: string, shape: number[], data: Uint8Array) => writeFileSync(join(dir, file), encodeIdx(shape, data));
  write(IDX_FILES.trainImages, [train.length, 2, 2], new Uint8Array(train.length * 4).fill(7));
  write(IDX_FILES.trainLabels, [train.length], Uint8Array.from(train));
  write(IDX_FILES.testImages, [test.length, 2, 2], new Uint8Array(test.length * 4));
  write(IDX_FILES.testLabels, [test.length], Uint8Array.from(test));
  return dir;
}

const digits = (n: number) => Array.from({ length: n }, (_, i) => i % 10);

describe('class count at load', () => {
  it('refuses a label far outside the rest (255 among 0–9), naming the file, the label, its first index and the fix', async () => {
    const train = digits(40);
    train[17] = 255;
    train[30] = 255;
    const dir = folder('sentinel', train, digits(10));
    const error = await loadIdxFolder(dir).catch((e) => e);
    expect(error).toBeInstanceOf(DatasetError);
    expect(error.message).toContain(`${dir}/${IDX_FILES.trainLabels}: label 255 at index 17 would make a 256-class model`);
    expect(error.message).toContain('245 of the 255 classes below it have no sample (the other labels: 0–9)');
    expect(error.message).toContain('--classes 256 (the classes option)');
  });

  it('finds the outlier in the test labels too, and judges both files together', async () => {
    const dir = folder('test-outlier', digits(30), [3, 1, 200, 4]);
    await expect(loadIdxFolder(dir)).rejects.toThrow(`${dir}/${IDX_FILES.testLabels}: label 200 at index 2 would make a 201-class model`);
    // Labels 0–9 spread over both files: no class below the largest is missing once both are seen.
    const split = await loadIdxFolder(folder('split', [0, 1, 2, 3, 4, 9], [5, 6, 7, 8]));
    expect([split.train.classes, split.test.classes]).toEqual([10, 10]);
  });

  it('keeps counting sparse but plausible labels as classes', () => {
    // Half the classes below 9 missing is the most tolerated: {0, 2, 4, 6, 9} leaves 1, 3, 5, 7 and 8 empty (5 > 4.5).
    expect(classCount([{ file: 'f', labels: Uint8Array.of(0, 2, 4, 6, 8, 9) }])).toBe(10);
    expect(() => classCount([{ file: 'f', labels: Uint8Array.of(0, 2, 4, 6, 9) }])).toThrow(/f: label 9 at index 4 .*5 of the 9 classes below it have no sample \(the other labels: 0, 2, 4, 6\)/);
    expect(classCount([{ file: 'f', labels: Uint8Array.of(0, 0, 1) }])).toBe(2);
    expect(classCount([{ file: 'f', labels: Uint8Array.of(0) }])).toBe(1);
  });

  it('accepts the outlier when the classes option says how many classes there are, and sets that count', async () => {
    const train = digits(20);
    train[5] = 255;
    const { train: t, test } = await loadIdxFolder(folder('declared', train, digits(10)), { classes: 256 });
    expect([t.classes, test.classes]).toEqual([256, 256]);
    // More classes than labels reach is the caller's word, kept as given.
    expect((await loadIdxFolder(folder('wide', digits(20), digits(10)), { classes: 12 })).train.classes).toBe(12);
  });

  it('with classes given, refuses any label at or above it, naming the first offending index', async () => {
    const train = digits(20);
    train[13] = 10;
    train[18] = 11;
    const dir = folder('over', train, digits(10));
    const error = await loadIdxFolder(dir, { classes: 10 }).catch((e) => e);
    expect(error).toBeInstanceOf(DatasetError);
    expect(error.message).toMatch(new RegExp(`^${dir}/${IDX_FILES.trainLabels}: label 10 at index 13 is not below the 10 classes given`));
    const images = { shape: [2, 1, 1], data: new Uint8Array(2) };
    expect(() => imageDataset(images, { shape: [2], data: Uint8Array.of(0, 3) }, 'mine', { classes: 3 })).toThrow(/^mine labels: label 3 at index 1 is not below the 3 classes given/);
    expect(() => imageDataset(images, { shape: [2], data: Uint8Array.of(0, 1) }, 'mine', { classes: 0 })).toThrow(DatasetError);
  });

  it('webgpu-dl train: the outlier is a one-line error before the engine starts, and --classes accepts it', async () => {
    const train = digits(60);
    train[42] = 255;
    const dir = folder('cli', train, digits(20));
    const err: string[] = [];
    const out: string[] = [];
    const error = vi.spyOn(console, 'error').mockImplementation((...a) => void err.push(a.join(' ')));
    const log = vi.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' ')));
    try {
      expect(await main(['train', '--data', dir, '--epochs', '1', '--batch', '20', '--json'])).toBe(1);
      expect(err).toHaveLength(1);
      expect(err[0]).toMatch(/^webgpu-dl: .*train-labels-idx1-ubyte: label 255 at index 42 would make a 256-class model.*--classes 256/);
      err.length = 0;
      expect(await main(['train', '--data', dir, '--epochs', '1', '--batch', '20', '--classes', '10', '--json'])).toBe(1);
      expect(err.at(-1)).toMatch(/label 255 at index 42 is not below the 10 classes given/);
      err.length = 0;
      expect(await main(['train', '--data', dir, '--epochs', '1', '--batch', '20', '--classes', '256', '--json'])).toBe(0);
      expect(err.join('\n')).toMatch(/, 256 classes/);
      expect(JSON.parse(out.at(-1)!).event).toBe('done');
    } finally {
      error.mockRestore();
      log.mockRestore();
    }
  });
});
