import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DatasetError } from '../../src/data/idx.js';
import { imageFolderSplits, rgbaToPlanes } from '../../src/data/image_folder.js';
import { loadImageFolder } from '../../src/data/image_folder_files.js';

const require = createRequire(import.meta.url);
const { PNG } = require('pngjs');
const jpeg = require('jpeg-js');

const root = mkdtempSync(join(tmpdir(), 'image-folder-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** RGBA of a w×h image whose pixel (y, x) is (seed + x, seed + 2y, seed·3 mod 256, alpha 200). */
function rgba(w: number, h: number, seed: number): Uint8Array {
  const out = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out.set([(seed + x) % 256, (seed + 2 * y) % 256, (seed * 3) % 256, 200], (y * w + x) * 4);
  return out;
}

function writePng(path: string, w: number, h: number, seed: number): void {
  const png = new PNG({ width: w, height: h });
  png.data.set(rgba(w, h, seed));
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, PNG.sync.write(png));
}

describe('image folders', () => {
  it('reads train/<class>/*.png and test/<class>/…: classes sorted by name, RGB planes, alpha dropped', async () => {
    const dir = join(root, 'pets');
    writePng(join(dir, 'train/dog/a.png'), 5, 3, 10);
    writePng(join(dir, 'train/cat/b.png'), 5, 3, 20);
    writePng(join(dir, 'train/cat/c.png'), 5, 3, 30);
    writePng(join(dir, 'test/dog/d.png'), 5, 3, 40);
    writeFileSync(join(dir, 'train/cat/notes.txt'), 'not an image');
    const { train, test } = await loadImageFolder(dir);
    expect(train.classNames).toEqual(['cat', 'dog']);
    expect([train.count, test.count, train.channels, train.height, train.width, train.classes]).toEqual([3, 1, 3, 3, 5, 2]);
    // Files in name order within classes in name order: cat/b, cat/c, dog/a.
    expect([...train.labels]).toEqual([0, 0, 1]);
    expect([...test.labels]).toEqual([1]);
    // Image 1 (cat/c, seed 30): red plane at (y 2, x 4) = 34, green (y 2, x 0) = 34, blue anywhere 90.
    const plane = 15;
    const at = (n: number, c: number, y: number, x: number) => train.images[n * 3 * plane + c * plane + y * 5 + x];
    expect([at(1, 0, 2, 4), at(1, 1, 2, 0), at(1, 2, 1, 1)]).toEqual([34, 34, 90]);
  });

  it('reads JPEG images too (lossy: within a few levels)', async () => {
    const dir = join(root, 'jpegs');
    for (const [split, cls, seed] of [['train', 'a', 50], ['test', 'a', 60]] as const) {
      mkdirSync(join(dir, split, cls), { recursive: true });
      const flat = new Uint8Array(16 * 16 * 4).fill(0).map((_, i) => (i % 4 === 3 ? 255 : seed + (i % 4) * 40));
      writeFileSync(join(dir, split, cls, 'x.jpg'), jpeg.encode({ data: flat, width: 16, height: 16 }, 95).data);
    }
    const { train } = await loadImageFolder(dir);
    expect([train.count, train.height, train.width]).toEqual([1, 16, 16]);
    for (const [c, want] of [[0, 50], [1, 90], [2, 130]]) expect(Math.abs(train.images[c * 256 + 17] - want)).toBeLessThanOrEqual(3);
  });

  it('no classes, mixed sizes, a test class without training images and an undecodable file: one line naming it and the fix', async () => {
    const empty = join(root, 'empty');
    mkdirSync(join(empty, 'train'), { recursive: true });
    await expect(loadImageFolder(empty)).rejects.toThrow(DatasetError);
    await expect(loadImageFolder(empty)).rejects.toThrow(/empty: no class folders with images under train\/; lay the images out as train\/<class>\/\*\.png\|jpg/);
    const mixed = join(root, 'mixed');
    writePng(join(mixed, 'train/a/1.png'), 4, 4, 1);
    writePng(join(mixed, 'train/b/2.png'), 4, 5, 2);
    writePng(join(mixed, 'test/a/3.png'), 4, 4, 3);
    await expect(loadImageFolder(mixed)).rejects.toThrow(/mixed\/train\/b\/2\.png: 4×5, but train\/a\/1\.png is 4×4; resize every image to one size \(e\.g\. 4×4\)/);
    const stray = join(root, 'stray');
    writePng(join(stray, 'train/a/1.png'), 4, 4, 1);
    writePng(join(stray, 'test/z/2.png'), 4, 4, 2);
    await expect(loadImageFolder(stray)).rejects.toThrow(/stray\/test\/z\/2\.png: class 'z' has no training images/);
    const broken = join(root, 'broken');
    mkdirSync(join(broken, 'train/a'), { recursive: true });
    writeFileSync(join(broken, 'train/a/1.png'), 'not a png');
    await expect(loadImageFolder(broken)).rejects.toThrow(/train\/a\/1\.png: not a readable PNG image/);
    const noTest = join(root, 'no-test');
    writePng(join(noTest, 'train/a/1.png'), 4, 4, 1);
    await expect(loadImageFolder(noTest)).rejects.toThrow(/no-test\/test: no images; put them in test\/<class>\/\*\.png\|jpg/);
  });

  it('takes decoded RGBA directly (the browser path) and converts it to planes', () => {
    expect([...rgbaToPlanes([1, 2, 3, 4, 5, 6, 7, 8], 2)]).toEqual([1, 5, 2, 6, 3, 7]);
    const image = (name: string, seed: number) => ({ name, width: 2, height: 1, rgba: rgba(2, 1, seed) });
    const { train } = imageFolderSplits([{ split: 'train', className: 'b', image: image('b.png', 1) }, { split: 'test', className: 'b', image: image('c.png', 2) }], 'dropped');
    expect([...train.images]).toEqual([1, 2, 1, 1, 3, 3]);
    expect(() => imageFolderSplits([], 'nothing')).toThrow(/nothing: no images in train\/<class>\/ folders/);
  });
});
