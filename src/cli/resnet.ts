import { resolve } from 'node:path';
import type { Augmentation } from '../data/augment.js';
import { parseAugmentation } from '../data/augment.js';
import { channelStatistics } from '../data/cifar.js';
import { isCifarFolder, loadCifar } from '../data/cifar_files.js';
import type { ImageSplits } from '../data/dataset.js';
import { loadImageFolder } from '../data/image_folder_files.js';
import { createEngine, type Engine } from '../gpu/engine.js';
import { resnetRecipeMetadata } from '../export/pytorch_resnet_recipe.js';
import { writeFilesAtomically } from '../io/atomic_write.js';
import { resnet, resnetConfig, type ResNetConfig } from '../models/resnet.js';
import { SGD } from '../optim/optimizers.js';
import { cosine } from '../train/schedules.js';
import { Trainer } from '../train/trainer.js';
import { describeRun, limit } from './classifier.js';
import { checkOutputPaths, optimizerPath } from './output_paths.js';
import { count, parseFlags, real, seedOf, UsageError } from './options.js';
import { progressReporter } from './progress.js';
import { dataFingerprint } from './resume.js';
import { checkpointWriter, finalFiles, readTrainerResume, resumeSnapshot, trainerRunSettings } from './trainer_resume.js';

export const RESNET_USAGE = `usage: webgpu-dl train --model resnet --data DIR_OR_TARGZ [options]

Trains the CIFAR ResNet of He et al. (3 stages of basic blocks, batch norm, zero-padded identity
shortcuts) on colour images: CIFAR-10's binary version (a folder of data_batch_N.bin and
test_batch.bin, or cifar-10-binary.tar.gz itself) or a folder of class folders
(train/<class>/*.png|jpg and test/<class>/…). Pixels are normalised per channel with the training
set's own mean and deviation. The recipe is the paper's: SGD with Nesterov momentum 0.9, weight
decay 5e-4 on every parameter, learning rate 0.1 annealed to 0 by cosine over the run, batch 128,
random crops after 4-pixel zero padding and horizontal flips.

options:
  --data DIR|FILE      CIFAR-10 folder or tar.gz, or an image folder (required)
  --depth N            6n + 2 layers: 20, 32, 56, … (default 20)
  --width N            channels of the first stage; the others have 2× and 4× (default 16)
  --epochs N           passes over the training set (default 30)
  --batch N            images per step (default 128)
  --lr X               peak learning rate (default 0.1)
  --weight-decay X     L2 weight decay (default 0.0005)
  --augment SPEC|none  training augmentation (default crop=4,flip=1; also shift=, rotate=, scale=)
  --limit N            train on the first N training images only
  --seed N             seed for initialisation, shuffling and augmentation (default 1)
  --out FILE           save the weights as safetensors (PyTorch state_dict names; the model's
                       configuration, class names, normalisation and training recipe in the
                       metadata) and SGD's momentum buffers in FILE.optimizer.safetensors
                       (\`webgpu-dl export --format pytorch\` continues the run in PyTorch)
  --checkpoint-every N also save both --out files every N steps (written to temporary files,
                       then renamed over the old ones; a checkpoint still being written when the
                       next is due is replaced by the newer one), with what --resume needs: the
                       position in the epoch, the epoch's figures so far, the settings and a
                       fingerprint of the data. A crash loses at most the steps since the last
                       checkpoint written; a lost GPU device is recovered from by itself
  --resume FILE        continue the run that saved FILE (and FILE.optimizer.safetensors) from
                       its step, mid-epoch included: the same shuffle, crops and flips, learning
                       rates and epoch figures as if it had never stopped; the other flags and
                       the data must be the same as that run's
  --json               one JSON object per epoch and a final one on stdout
  -h, --help           show this help`;

const FLAGS = {
  model: { type: 'string' },
  data: { type: 'string' },
  depth: { type: 'string' },
  width: { type: 'string' },
  epochs: { type: 'string' },
  batch: { type: 'string' },
  lr: { type: 'string' },
  'weight-decay': { type: 'string' },
  augment: { type: 'string' },
  limit: { type: 'string' },
  seed: { type: 'string' },
  out: { type: 'string' },
  'checkpoint-every': { type: 'string' },
  resume: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The default training recipe (He et al. with cosine decay), stated once for the CLI and its help. */
export const RESNET_RECIPE = { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 5e-4, batch: 128, augment: { crop: 4, flip: true } } as const;

/** True when a `train` command line selects the ResNet. */
export function asksForResnet(argv: readonly string[]): boolean {
  return argv.some((a, i) => a === '--model=resnet' || (a === '--model' && argv[i + 1] === 'resnet'));
}

export interface ResnetArgs {
  data: string;
  depth: number;
  width: number;
  epochs: number;
  batch: number;
  lr: number;
  weightDecay: number;
  augment?: Augmentation;
  limit?: number;
  seed: number;
  out?: string;
  checkpointEvery?: number;
  resume?: string;
  json: boolean;
}

export function parseResnetArgs(argv: readonly string[]): ResnetArgs | 'help' {
  const v = parseFlags(argv, FLAGS);
  if (v.help) return 'help';
  if (v.data === undefined || v.data.trim() === '') throw new UsageError('--model resnet needs --data DIR_OR_TARGZ: CIFAR-10 binary batches (folder or tar.gz) or a folder of class folders');
  for (const flag of ['out', 'resume'] as const) {
    if (v[flag] !== undefined && v[flag].trim() === '') throw new UsageError(`--${flag} '${v[flag]}': expected a path`);
  }
  if (v['checkpoint-every'] !== undefined && v.out === undefined) throw new UsageError('--checkpoint-every needs --out FILE: the checkpoints are written there');
  const depth = count('depth', v.depth, 20, 8);
  if ((depth - 2) % 6 !== 0) throw new UsageError(`--depth ${depth}: expected 6n + 2 (20, 32, 44, 56, 110: n basic blocks in each of the 3 stages)`);
  let augment: Augmentation | undefined = { ...RESNET_RECIPE.augment };
  if (v.augment === 'none') augment = undefined;
  else if (v.augment !== undefined) {
    try {
      augment = parseAugmentation(v.augment);
    } catch (e) {
      throw new UsageError(`--${(e as Error).message}`);
    }
  }
  return {
    data: v.data,
    depth,
    width: count('width', v.width, 16),
    epochs: count('epochs', v.epochs, 30),
    batch: count('batch', v.batch, RESNET_RECIPE.batch),
    lr: real('lr', v.lr, RESNET_RECIPE.lr, (n) => n > 0, 'a positive number'),
    weightDecay: real('weight-decay', v['weight-decay'], RESNET_RECIPE.weightDecay, (n) => n >= 0, 'a number ≥ 0'),
    augment,
    limit: v.limit === undefined ? undefined : count('limit', v.limit, 1),
    seed: seedOf(v.seed),
    out: v.out,
    checkpointEvery: v['checkpoint-every'] === undefined ? undefined : count('checkpoint-every', v['checkpoint-every'], 1),
    resume: v.resume,
    json: !!v.json,
  };
}

/** CIFAR-10 (folder or tar.gz) or an image folder, whichever `source` holds. */
export async function loadColourImages(source: string): Promise<ImageSplits> {
  return (await colourSourceFormat(source)) === 'image-folder' ? loadImageFolder(source) : loadCifar(source);
}

/** Which reader `loadColourImages` uses for `source`. */
export async function colourSourceFormat(source: string): Promise<'cifar-binary' | 'image-folder'> {
  const fs = await import('node:fs/promises');
  const stat = await fs.stat(source).catch(() => undefined);
  return stat?.isDirectory() && !(await isCifarFolder(source)) ? 'image-folder' : 'cifar-binary';
}

/** The metadata a ResNet checkpoint carries: enough to rebuild the model and read images as it was trained to. */
export function resnetMetadata(config: Required<ResNetConfig>, splits: ImageSplits): Record<string, string> {
  const { classNames, channelNormalisation } = splits.train;
  return {
    model: 'resnet',
    config: JSON.stringify({ ...config, ...(classNames ? { classNames } : {}), ...(channelNormalisation ? { normalisation: channelNormalisation } : {}) }),
  };
}

export async function trainResnet(argv: readonly string[]): Promise<void> {
  const args = parseResnetArgs(argv);
  if (args === 'help') {
    console.log(RESNET_USAGE);
    return;
  }
  const started = performance.now();
  const say = (line: string) => (args.json ? console.error(line) : console.log(line));
  if (args.out) await checkOutputPaths([args.out, optimizerPath(args.out)]);
  const all = await loadColourImages(args.data);
  const train = limit(all.train, args.limit);
  // The training images' own statistics normalise both sets, as torchvision's Normalize is used.
  const stats = channelStatistics(train);
  const splits = { train: { ...train, channelNormalisation: stats }, test: { ...all.test, channelNormalisation: stats } };
  if (args.batch > train.count) throw new UsageError(`--batch ${args.batch}: the training set has only ${train.count} images`);
  const config = resnetConfig({ depth: args.depth, width: args.width, classes: Math.max(train.classes, all.test.classes), channels: train.channels ?? 1 });
  const { depth, width, epochs, batch, lr, weightDecay, augment, limit: limited, seed } = args;
  const fingerprint = dataFingerprint(train.images, train.labels, all.test.images, all.test.labels);
  const settings = trainerRunSettings('resnet', fingerprint, { depth, width, epochs, batch, lr, 'weight-decay': weightDecay, augment: augment ?? 'none', limit: limited, seed });
  const stepsPerEpoch = Math.floor(train.count / args.batch);
  const resumed = args.resume === undefined ? undefined : await readTrainerResume(args.resume, settings, args.epochs * stepsPerEpoch);
  const files = args.out === undefined ? undefined : { out: args.out, weights: await resnetFileMetadata(args, config, splits, stats), optimizer: { model: 'resnet' }, settings };
  let engine: Engine | undefined;
  let trainer: Trainer | undefined;
  try {
    engine = await createEngine({ log: (m) => console.error(m) });
    say(describeRun(engine, splits));
    const optimizer = new SGD({ lr: args.lr, momentum: RESNET_RECIPE.momentum, nesterov: RESNET_RECIPE.nesterov, weightDecay: args.weightDecay });
    const autoCheckpoint = args.checkpointEvery === undefined || !files ? undefined : { everySteps: args.checkpointEvery, onSnapshot: checkpointWriter(() => trainer!, files, say) };
    trainer = new Trainer(engine, { model: resnet(config), inputShape: [config.channels, train.height, train.width], classes: config.classes, optimizer, seed: args.seed, autoCheckpoint });
    const resumeFrom = resumed && resumeSnapshot(resumed, trainer.store, optimizer);
    say(
      `webgpu-dl: ResNet-${config.depth} (width ${config.width}, ${trainer.store.count} parameters); SGD Nesterov momentum ${RESNET_RECIPE.momentum}, weight decay ${args.weightDecay}, ` +
        `lr ${args.lr} annealed to 0 by cosine over ${args.epochs} epochs, batch ${args.batch}, augmentation ${args.augment ? JSON.stringify(args.augment) : 'none'}`,
    );
    if (resumed) say(`webgpu-dl: resumed from ${resumed.path} at step ${resumed.point.steps} (epoch ${resumed.point.epoch}, step ${resumed.point.epochStep} of ${stepsPerEpoch})`);
    const bar = progressReporter(args.json);
    const history = await trainer.fit(splits.train, {
      epochs: args.epochs,
      batchSize: args.batch,
      evaluate: splits.test,
      schedule: cosine(),
      augment: args.augment,
      resumeFrom,
      progressEvery: 10,
      onProgress: (p) =>
        bar.update(`epoch ${p.epoch}/${args.epochs}  ${p.step}/${p.steps}  loss ${p.loss.toFixed(4)}  acc ${(100 * p.accuracy).toFixed(2)}%  ${Math.round(p.samplesPerSec)} samples/s`, p.step / p.steps),
      onEpoch: (r) => {
        const line = { event: 'epoch', epoch: r.epoch, loss: r.loss, trainAccuracy: r.trainAccuracy, testAccuracy: r.evalAccuracy, testLoss: r.evalLoss, samplesPerSec: r.samplesPerSec };
        if (args.json) console.log(JSON.stringify(line));
        else bar.done(`epoch ${r.epoch}/${args.epochs}  loss ${r.loss.toFixed(4)}  train ${(100 * r.trainAccuracy).toFixed(2)}%  test ${(100 * r.evalAccuracy!).toFixed(2)}%  ${Math.round(r.samplesPerSec)} samples/s`);
      },
    });
    const last = history[history.length - 1];
    if (files) {
      await writeFilesAtomically(await finalFiles(trainer, files, { epochs: args.epochs, stepsPerEpoch }));
      say(`webgpu-dl: weights saved to ${files.out} (safetensors; loads into scripts/torch_models.py's ResNet), SGD's state to ${optimizerPath(files.out)}`);
    }
    const seconds = (performance.now() - started) / 1000;
    if (args.json) console.log(JSON.stringify({ event: 'done', testAccuracy: last.evalAccuracy, seconds }));
    else console.log(`done: test accuracy ${(100 * last.evalAccuracy!).toFixed(2)}% in ${seconds.toFixed(1)} s`);
  } finally {
    trainer?.dispose();
    await engine?.close();
  }
}

/** The weights file's metadata: the model's configuration and the recipe `export --format pytorch` resumes the run with (the same SGD, schedule and data). */
async function resnetFileMetadata(args: ResnetArgs, config: Required<ResNetConfig>, splits: ImageSplits, normalisation: ReturnType<typeof channelStatistics>): Promise<Record<string, string>> {
  const { train } = splits;
  const recipe = resnetRecipeMetadata({
    optimizer: { lr: args.lr, momentum: RESNET_RECIPE.momentum, dampening: 0, nesterov: RESNET_RECIPE.nesterov, weightDecay: args.weightDecay },
    epochs: args.epochs,
    batch: args.batch,
    seed: args.seed,
    image: [train.height, train.width],
    limit: args.limit,
    data: resolve(args.data),
    format: await colourSourceFormat(args.data),
    augment: args.augment as Record<string, number | boolean> | undefined,
    normalisation,
  });
  return { ...resnetMetadata(config, splits), ...recipe };
}
