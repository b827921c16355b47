import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/options.js';
import { parseResnetArgs } from '../../src/cli/resnet.js';
import { decodeSafetensors } from '../../src/train/safetensors.js';
import { runCli } from '../helpers/cli.js';
import { rng } from '../helpers/random.js';

const { PNG } = createRequire(import.meta.url)('pngjs');
const root = mkdtempSync(join(tmpdir(), 'cli-resnet-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** An image folder of 8×8 PNGs: `per` random-coloured images per class and split. */
function imageFolder(name: string, classes: string[], per: number): string {
  const dir = join(root, name);
  const next = rng(classes.length * 31 + per);
  for (const split of ['train', 'test']) {
    for (const c of classes) {
      mkdirSync(join(dir, split, c), { recursive: true });
      for (let i = 0; i < per; i++) {
        const png = new PNG({ width: 8, height: 8 });
        for (let k = 0; k < png.data.length; k++) png.data[k] = Math.floor(next() * 256);
        writeFileSync(join(dir, split, c, `${i}.png`), PNG.sync.write(png));
      }
    }
  }
  return dir;
}

describe('webgpu-dl train --model resnet', () => {
  it('the default recipe is the paper’s: depth 20, width 16, lr 0.1, weight decay 5e-4, batch 128, crop 4 + flip', () => {
    expect(parseResnetArgs(['--model', 'resnet', '--data', 'd'])).toMatchObject({ depth: 20, width: 16, lr: 0.1, weightDecay: 5e-4, batch: 128, augment: { crop: 4, flip: true }, seed: 1 });
    expect(parseResnetArgs(['--model', 'resnet', '--data', 'd', '--augment', 'none']).valueOf()).toMatchObject({ augment: undefined });
  });

  it('any argv gives checked arguments or a one-line UsageError (property)', () => {
    const flags = ['data', 'depth', 'width', 'epochs', 'batch', 'lr', 'weight-decay', 'augment', 'limit', 'seed', 'json'];
    const value = fc.constantFrom('', '0', '1', '8', '20', '21', '-1', '1e400', 'NaN', '0.1', 'none', 'crop=4,flip=1', 'flip=2', 'crop=1.5', 'x');
    const token = fc.oneof(fc.tuple(fc.constantFrom(...flags), value).map(([f, v]) => [`--${f}`, v]), fc.constantFrom('--nope', '-h', 'stray').map((t) => [t]));
    fc.assert(
      fc.property(fc.array(token, { maxLength: 6 }).map((p) => ['--model', 'resnet', ...p.flat()]), (argv) => {
        let parsed;
        try {
          parsed = parseResnetArgs(argv);
        } catch (e) {
          expect(e, argv.join(' ')).toBeInstanceOf(UsageError);
          expect((e as Error).message).not.toMatch(/\n/);
          return;
        }
        if (parsed === 'help') return;
        expect((parsed.depth - 2) % 6, argv.join(' ')).toBe(0);
        expect(parsed.limit === undefined || parsed.limit >= 1).toBe(true);
        expect(parsed.lr > 0 && parsed.weightDecay >= 0 && parsed.batch >= 1 && parsed.width >= 1).toBe(true);
      }),
      { numRuns: 300, seed: 7 },
    );
  });

  it('trains on an image folder, prints the classifier events, and saves weights with the full configuration', async () => {
    const data = imageFolder('tiny', ['ant', 'bee'], 6);
    const out = join(root, 'tiny.safetensors');
    const { status, out: lines, err } = await runCli(['train', '--model', 'resnet', '--data', data, '--depth', '8', '--width', '2', '--epochs', '2', '--batch', '4', '--json', '--out', out]);
    expect(status, err.join('\n')).toBe(0);
    const events = lines.map((l) => JSON.parse(l));
    expect(events.map((e) => e.event)).toEqual(['epoch', 'epoch', 'done']);
    expect(Object.keys(events[0]).sort()).toEqual(['epoch', 'event', 'loss', 'samplesPerSec', 'testAccuracy', 'testLoss', 'trainAccuracy']);
    expect(events[2].testAccuracy).toBeGreaterThanOrEqual(0);
    const { tensors, metadata } = decodeSafetensors(readFileSync(out));
    expect(metadata.model).toBe('resnet');
    const config = JSON.parse(metadata.config);
    expect(config).toMatchObject({ depth: 8, width: 2, classes: 2, channels: 3, classNames: ['ant', 'bee'] });
    expect(config.normalisation.mean).toHaveLength(3);
    expect(tensors.get('layer3.0.conv2.weight')?.shape).toEqual([8, 8, 3, 3]);
    expect(tensors.get('fc.weight')?.shape).toEqual([2, 8]);
    expect(decodeSafetensors(readFileSync(join(root, 'tiny.optimizer.safetensors'))).metadata.optimizer).toBe('sgd');
  });

  it('bad data and flags: one line naming the file or flag and the fix, non-zero status', async () => {
    const cifar = join(root, 'bad-cifar');
    mkdirSync(cifar);
    writeFileSync(join(cifar, 'data_batch_1.bin'), new Uint8Array(3073 * 2 + 5));
    writeFileSync(join(cifar, 'test_batch.bin'), new Uint8Array(3073));
    const wrong = await runCli(['train', '--model', 'resnet', '--data', cifar, '--epochs', '1']);
    expect(wrong.status).toBe(1);
    expect(wrong.err).toHaveLength(1);
    expect(wrong.err[0]).toMatch(/^webgpu-dl: .*bad-cifar\/data_batch_1\.bin: 6151 bytes is not a whole number of 3073-byte CIFAR-10 records .*cifar-10-binary\.tar\.gz/);
    const empty = join(root, 'no-classes');
    mkdirSync(join(empty, 'train'), { recursive: true });
    const none = await runCli(['train', '--model', 'resnet', '--data', empty]);
    expect([none.status, none.err.length]).toEqual([1, 1]);
    expect(none.err[0]).toMatch(/no-classes: no class folders with images under train\//);
    const depth = await runCli(['train', '--model', 'resnet', '--data', empty, '--depth', '21']);
    expect([depth.status, depth.err]).toEqual([2, ['webgpu-dl: --depth 21: expected 6n + 2 (20, 32, 44, 56, 110: n basic blocks in each of the 3 stages)']]);
    const aug = await runCli(['train', '--model', 'resnet', '--data', empty, '--augment', 'crop=2,shift=1']);
    expect(aug.status).toBe(2);
    expect(aug.err[0]).toMatch(/--augment crop=2,shift=1: crop 2 and shift 1 both translate the image/);
    const make = await runCli(['make-color-mnist']);
    expect([make.status, make.err]).toEqual([2, ['webgpu-dl: make-color-mnist needs --out DIR, the folder to write the CIFAR-10 files to']]);
  });
});
