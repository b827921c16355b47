import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { channelStatistics, parseCifarBatches } from '../../src/data/cifar.js';
import { cifarFromTarGz, gunzipWithin, untar } from '../../src/data/cifar_archive.js';
import { loadCifar, writeCifarFolder } from '../../src/data/cifar_files.js';
import { colorMnist } from '../../src/data/color_mnist.js';
import type { ImageDataset } from '../../src/data/dataset.js';
import { DatasetError } from '../../src/data/idx.js';

const root = mkdtempSync(join(tmpdir(), 'cifar-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/**
 * `n` CIFAR-10 records written byte by byte from the format's description: a label byte, then
 * 1024 red, 1024 green and 1024 blue bytes; pixel (c, y, x) of record r holds (r·7 + c·50 + y·3 + x) mod 256.
 */
function records(n: number, firstLabel: number): Uint8Array {
  const out = new Uint8Array(n * 3073);
  for (let r = 0; r < n; r++) {
    out[r * 3073] = (firstLabel + r) % 10;
    for (let c = 0; c < 3; c++) for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) out[r * 3073 + 1 + c * 1024 + y * 32 + x] = (r * 7 + c * 50 + y * 3 + x) % 256;
  }
  return out;
}

const pixel = (d: ImageDataset, r: number, c: number, y: number, x: number) => d.images[r * 3072 + c * 1024 + y * 32 + x];

function cifarFolder(name: string, files: Record<string, Uint8Array | string>): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  for (const [file, data] of Object.entries(files)) writeFileSync(join(dir, file), data);
  return dir;
}

const NAMES = 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n';

describe('CIFAR-10 binary reader', () => {
  it('reads a folder of batches: labels, R/G/B planes in place, class names from batches.meta.txt', async () => {
    const dir = cifarFolder('plain', { 'data_batch_1.bin': records(12, 0), 'data_batch_2.bin': records(5, 3), 'test_batch.bin': records(4, 7), 'batches.meta.txt': NAMES });
    const { train, test } = await loadCifar(dir);
    expect([train.count, test.count, train.height, train.width, train.channels, train.classes]).toEqual([17, 4, 32, 32, 3, 10]);
    expect([...train.labels]).toEqual([...Array.from({ length: 12 }, (_, r) => r % 10), 3, 4, 5, 6, 7]);
    // Record 13 is the second of data_batch_2 (r = 1 there): green (c = 1) at y = 4, x = 9.
    expect(pixel(train, 13, 1, 4, 9)).toBe((7 + 50 + 12 + 9) % 256);
    expect(pixel(test, 3, 2, 31, 31)).toBe((21 + 100 + 93 + 31) % 256);
    expect(train.classNames).toEqual(NAMES.trim().split('\n'));
  });

  it('reads the distributed tar.gz directly (made here by the system tar), batches under cifar-10-batches-bin/', async () => {
    cifarFolder('archive/cifar-10-batches-bin', { 'data_batch_1.bin': records(6, 2), 'test_batch.bin': records(3, 1), 'batches.meta.txt': NAMES, 'readme.html': '<p>x</p>' });
    const archive = join(root, 'cifar-10-binary.tar.gz');
    execFileSync('tar', ['czf', archive, '-C', join(root, 'archive'), 'cifar-10-batches-bin']);
    const fromFile = await loadCifar(archive);
    expect(fromFile.train.count).toBe(6);
    expect([...fromFile.test.labels]).toEqual([1, 2, 3]);
    expect(pixel(fromFile.train, 5, 0, 10, 2)).toBe((35 + 30 + 2) % 256);
    expect(fromFile.test.classNames?.[9]).toBe('truck');
    // The same bytes in memory (the browser's path) give the same dataset.
    const inMemory = await cifarFromTarGz(readFileSync(archive), 'dropped.tar.gz');
    expect(inMemory.train.images).toEqual(fromFile.train.images);
    expect(untar(await gunzipWithin(readFileSync(archive), 'a'), 'a').get('cifar-10-batches-bin/readme.html')).toEqual(new TextEncoder().encode('<p>x</p>'));
  });

  it('a file of the wrong size, a missing test batch, a non-gzip file and a damaged archive: one line naming the file and the fix', async () => {
    const short = cifarFolder('short', { 'data_batch_1.bin': records(2, 0).subarray(0, 6145), 'test_batch.bin': records(1, 0) });
    await expect(loadCifar(short)).rejects.toThrow(DatasetError);
    await expect(loadCifar(short)).rejects.toThrow(/short\/data_batch_1\.bin: 6145 bytes is not a whole number of 3073-byte CIFAR-10 records .*use cifar-10-binary\.tar\.gz/);
    const noTest = cifarFolder('no-test', { 'data_batch_1.bin': records(2, 0) });
    await expect(loadCifar(noTest)).rejects.toThrow(/no-test: no test_batch\.bin; give a folder \(or cifar-10-binary\.tar\.gz\)/);
    const empty = cifarFolder('empty', {});
    await expect(loadCifar(empty)).rejects.toThrow(/no data_batch_1\.bin … data_batch_5\.bin and no test_batch\.bin/);
    writeFileSync(join(root, 'plain.tar'), records(1, 0));
    await expect(loadCifar(join(root, 'plain.tar'))).rejects.toThrow(/plain\.tar: not a gzip file; give cifar-10-binary\.tar\.gz as downloaded/);
    const bad = new Uint8Array(1024);
    bad.set(new TextEncoder().encode('data_batch_1.bin'));
    await expect(cifarFromTarGz(gzipSync(bad), 'bad.tar.gz')).rejects.toThrow(/bad\.tar\.gz: the tar header at byte 0 has a wrong checksum/);
    await expect(cifarFromTarGz(gzipSync(bad).subarray(0, 12), 'cut.tar.gz')).rejects.toThrow(/cut\.tar\.gz: looks gzip-compressed but does not inflate/);
    await expect(loadCifar(join(root, 'nothing-here'))).rejects.toThrow(/nothing-here: no such file or folder/);
    expect(() => parseCifarBatches([{ name: 'zero.bin', bytes: new Uint8Array(0) }])).toThrow(/zero\.bin: 0 bytes/);
  });

  it('per-channel statistics are the mean and deviation of each plane, as fractions of 255', () => {
    // Two 1×2 images of 2 channels: channel 0 holds 0, 255, 255, 255; channel 1 all 51.
    const d: ImageDataset = { images: Uint8Array.of(0, 255, 51, 51, 255, 255, 51, 51), labels: Uint8Array.of(0, 1), count: 2, height: 1, width: 2, channels: 2, classes: 2 };
    const { mean, std } = channelStatistics(d);
    expect(mean[0]).toBeCloseTo(0.75, 12);
    expect(std[0]).toBeCloseTo(Math.sqrt(0.75 * 0.25), 12);
    expect(mean[1]).toBeCloseTo(0.2, 12);
    expect(std[1]).toBe(1 / 255);
  });
});

describe('the built-in colour dataset', () => {
  // A stand-in for MNIST: 28×28 grey digits whose strokes encode the label.
  const digits = (count: number): ImageDataset => {
    const images = new Uint8Array(count * 784);
    for (let i = 0; i < count; i++) for (let y = 0; y < 28; y++) images[i * 784 + y * 28 + (i % 10) * 2 + 3] = 255;
    return { images, labels: Uint8Array.from({ length: count }, (_, i) => i % 10), count, height: 28, width: 28, classes: 10 };
  };
  const mnist = { train: digits(40), test: digits(12) };

  it('tints and places every digit on a coloured 32×32 background, the same bytes for the same seed', () => {
    const a = colorMnist(mnist, { train: 30 });
    const b = colorMnist(mnist, { train: 30 });
    expect(a.train.images).toEqual(b.train.images);
    expect(colorMnist(mnist, { train: 30, seed: 1 }).train.images).not.toEqual(a.train.images);
    expect([a.train.count, a.test.count, a.train.channels, a.train.height, a.train.classNames?.[3]]).toEqual([30, 12, 3, 32, '3']);
    expect([...a.train.labels]).toEqual([...mnist.train.labels.subarray(0, 30)]);
    for (let i = 0; i < 30; i++) {
      // Each image has exactly two colours: the background (corner) and the digit's stroke.
      const colours = new Set<string>();
      for (let k = 0; k < 1024; k++) colours.add([0, 1, 2].map((c) => a.train.images[i * 3072 + c * 1024 + k]).join());
      expect(colours.size, `image ${i}`).toBe(2);
    }
    // Backgrounds vary from image to image (colour carries no label).
    expect(new Set(Array.from({ length: 30 }, (_, i) => a.train.images[i * 3072])).size).toBeGreaterThan(10);
  });

  it('round-trips through CIFAR-10 files: written by writeCifarFolder, read back by loadCifar', async () => {
    const splits = colorMnist(mnist, { train: 23 });
    const dir = join(root, 'colour');
    const written = await writeCifarFolder(dir, splits);
    expect(written.map((p) => p.slice(dir.length + 1))).toEqual(['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin', 'test_batch.bin', 'batches.meta.txt']);
    const back = await loadCifar(dir);
    expect(back.train.images).toEqual(splits.train.images);
    expect(back.train.labels).toEqual(splits.train.labels);
    expect(back.test.images).toEqual(splits.test.images);
    expect(back.train.classNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  });
});
