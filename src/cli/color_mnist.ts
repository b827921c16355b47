import { writeCifarFolder } from '../data/cifar_files.js';
import { colorMnist } from '../data/color_mnist.js';
import { loadMnist } from '../data/idx_files.js';
import { count, parseFlags, seedOf, UsageError } from './options.js';

export const COLOR_MNIST_USAGE = `usage: webgpu-dl make-color-mnist --out DIR [--train N] [--seed N]

Writes the built-in colour dataset in CIFAR-10's binary format (data_batch_1.bin … data_batch_5.bin,
test_batch.bin, batches.meta.txt): MNIST's digits tinted and placed on 32×32 coloured backgrounds,
the same bytes for the same seed. Train a ResNet on it with
  webgpu-dl train --model resnet --data DIR

options:
  --out DIR    the folder to write (made if missing), required
  --train N    training images, the first N of MNIST's (default 50000; the test set is all 10000)
  --seed N     seed of the colours and placements (default 0)
  -h, --help   show this help`;

const FLAGS = { out: { type: 'string' }, train: { type: 'string' }, seed: { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const;

export async function colorMnistCommand(argv: readonly string[]): Promise<void> {
  const v = parseFlags(argv, FLAGS);
  if (v.help) {
    console.log(COLOR_MNIST_USAGE);
    return;
  }
  if (v.out === undefined || v.out.trim() === '') throw new UsageError('make-color-mnist needs --out DIR, the folder to write the CIFAR-10 files to');
  const train = count('train', v.train, 50_000, 1, 60_000);
  const seed = seedOf(v.seed, 0);
  const splits = colorMnist(await loadMnist(), { train, seed });
  const written = await writeCifarFolder(v.out, splits);
  console.log(`webgpu-dl: ${splits.train.count} training and ${splits.test.count} test images of 3×32×32 written to ${v.out} (${written.length} files, CIFAR-10 binary format)`);
}
