import { resolve } from 'node:path';
import { checkAugmentation } from '../data/augment.js';
import { classifierRecipeMetadata, ganRecipeMetadata } from '../export/pytorch_recipe.js';
import { createEngine, type Engine } from '../gpu/engine.js';
import { writeFilesAtomically } from '../io/atomic_write.js';
import { mlpDiscriminator, mlpGenerator } from '../models/gan.js';
import { Adam } from '../optim/optimizers.js';
import { fixedLatents, GanTrainer, type GanResumePoint } from '../train/gan.js';
import { encodeGrayPng, imageGrid } from '../train/png.js';
import type { Trainer } from '../train/trainer.js';
import { parseTrainArgs, UsageError, USAGE, type TrainArgs } from './args.js';
import { classifierTrainer, describeRun, limit, loadSplits, trainingSchedule } from './classifier.js';
import { compressCommand } from './compress.js';
import { ganCheckpointPaths } from './gan_checkpoint.js';
import { ganCheckpointFiles, loadGanResume, readGanResume } from './gan_resume.js';
import { exportCommand } from './export.js';
import { checkOutputPaths, optimizerPath, samplesPath } from './output_paths.js';
import { profileCommand } from './profile.js';
import { progressReporter } from './progress.js';
import { sampleCommand } from './sample.js';
import { asksForTransformer, trainTransformer } from './transformer.js';
import { colorMnistCommand } from './color_mnist.js';
import { asksForResnet, trainResnet } from './resnet.js';
import { dataFingerprint } from './resume.js';
import { checkpointWriter, finalFiles, readTrainerResume, resumeSnapshot, trainerRunSettings } from './trainer_resume.js';
import { recordedConfigRefusal } from '../kernels/recorded_configs.js';

const COMMANDS = `webgpu-dl <command> [options]: deep learning on the GPU through WebGPU

commands:
  train      train a model (options below)
  profile    time every GPU kernel of one training step (webgpu-dl profile --help)
  compress   prune, fine-tune and int8-quantise trained weights (webgpu-dl compress --help)
  export     write trained weights as an ONNX model (webgpu-dl export --help)
  sample     generate text with a trained character transformer (webgpu-dl sample --help)
  make-color-mnist  write the built-in colour dataset as CIFAR-10 files (webgpu-dl make-color-mnist --help)`;

/** Runs the command line; resolves to the process exit status. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (!command || command === '-h' || command === '--help' || command === 'help') {
      console.log(`${COMMANDS}\n\n${USAGE}`);
      return 0;
    }
    const other = new Map([['profile', profileCommand], ['compress', compressCommand], ['export', exportCommand], ['sample', sampleCommand], ['make-color-mnist', colorMnistCommand]]).get(command);
    if (other) {
      await other(rest);
      return 0;
    }
    if (command !== 'train') throw new UsageError(`unknown command '${command}'; the commands are train, profile, compress, export, sample and make-color-mnist (see --help)`);
    if (asksForTransformer(rest)) {
      await trainTransformer(rest);
      return 0;
    }
    if (asksForResnet(rest)) {
      await trainResnet(rest);
      return 0;
    }
    const args = parseTrainArgs(rest);
    if (args === 'help') {
      console.log(USAGE);
      return 0;
    }
    await (args.model === 'gan' ? trainGan(args) : train(args));
    return 0;
  } catch (e) {
    if (process.env.WEBGPU_DL_DEBUG) console.error(e);
    const message = e instanceof Error ? e.message.split('\n').join(' ') : String(e);
    console.error(`webgpu-dl: ${message}`);
    return e instanceof UsageError ? 2 : 1;
  }
}

async function train(args: TrainArgs): Promise<void> {
  const started = performance.now();
  const say = (line: string) => (args.json ? console.error(line) : console.log(line));
  if (args.out) await checkOutputPaths([args.out, optimizerPath(args.out)]);
  const all = await loadSplits(args.data, { classes: args.classes });
  const splits = { ...all, train: limit(all.train, args.limit) };
  const train = splits.train;
  if (args.batch > train.count) throw new UsageError(`--batch ${args.batch}: the training set has only ${train.count} samples`);
  if (args.augment) checkAugmentation(args.augment, train);
  const { epochs, batch, lr, schedule: scheduleName, seed, limit: limited, classes, augment } = args;
  const fingerprint = dataFingerprint(train.images, train.labels, splits.test.images, splits.test.labels);
  const settings = trainerRunSettings(args.model, fingerprint, { epochs, batch, lr, schedule: scheduleName, seed, limit: limited, classes, augment });
  const stepsPerEpoch = Math.floor(train.count / args.batch);
  const resumed = args.resume === undefined ? undefined : await readTrainerResume(args.resume, settings, args.epochs * stepsPerEpoch);
  // The recipe lets `export --format pytorch` resume the run with the same settings.
  const recipe = classifierRecipeMetadata({ ...args, image: [train.height, train.width], data: args.data === undefined ? undefined : resolve(args.data) });
  const files = args.out === undefined ? undefined : { out: args.out, weights: { model: args.model, ...recipe }, optimizer: { model: args.model }, settings };
  let engine: Engine | undefined;
  let trainer: Trainer | undefined;
  try {
    engine = await createEngine({ log: (m) => console.error(m) });
    say(describeRun(engine, splits));
    const schedule = trainingSchedule(args);
    say(schedule.line);
    const autoCheckpoint = args.checkpointEvery === undefined || !files ? undefined : { everySteps: args.checkpointEvery, onSnapshot: checkpointWriter(() => trainer!, files, say) };
    trainer = classifierTrainer(engine, args.model === 'cnn' ? 'cnn' : 'mlp', splits, { lr: args.lr, seed: args.seed, autoCheckpoint });
    const resumeFrom = resumed && resumeSnapshot(resumed, trainer.store, trainer.requireOptimizer('--resume'));
    if (resumed) say(`webgpu-dl: resumed from ${resumed.path} at step ${resumed.point.steps} (epoch ${resumed.point.epoch}, step ${resumed.point.epochStep} of ${stepsPerEpoch})`);
    const bar = progressReporter(args.json);
    const history = await trainer.fit(train, {
      epochs: args.epochs,
      batchSize: args.batch,
      evaluate: splits.test,
      schedule: schedule.schedule,
      augment: args.augment,
      resumeFrom,
      progressEvery: 10,
      onProgress: (p) =>
        bar.update(`epoch ${p.epoch}/${args.epochs}  ${p.step}/${p.steps}  loss ${p.loss.toFixed(4)}  acc ${(100 * p.accuracy).toFixed(2)}%  ${Math.round(p.samplesPerSec)} samples/s`, p.step / p.steps),
      onEpoch: (r) => {
        const line = {
          event: 'epoch',
          epoch: r.epoch,
          loss: r.loss,
          trainAccuracy: r.trainAccuracy,
          testAccuracy: r.evalAccuracy,
          testLoss: r.evalLoss,
          samplesPerSec: r.samplesPerSec,
        };
        if (args.json) console.log(JSON.stringify(line));
        else {
          bar.done(`epoch ${r.epoch}/${args.epochs}  loss ${r.loss.toFixed(4)}  train ${(100 * r.trainAccuracy).toFixed(2)}%  test ${(100 * r.evalAccuracy!).toFixed(2)}%  ${Math.round(r.samplesPerSec)} samples/s`);
        }
      },
    });
    const last = history[history.length - 1];
    if (files) {
      await writeFilesAtomically(await finalFiles(trainer, files, { epochs: args.epochs, stepsPerEpoch }));
      say(`webgpu-dl: weights saved to ${files.out} (safetensors; load into the equivalent torch.nn.Sequential), Adam's state to ${optimizerPath(files.out)}`);
    }
    const seconds = (performance.now() - started) / 1000;
    if (args.json) console.log(JSON.stringify({ event: 'done', testAccuracy: last.evalAccuracy, seconds }));
    else console.log(`done: test accuracy ${(100 * last.evalAccuracy!).toFixed(2)}% in ${seconds.toFixed(1)} s`);
  } finally {
    trainer?.dispose();
    await engine?.close();
  }
}

async function trainGan(args: TrainArgs): Promise<void> {
  const started = performance.now();
  const say = (line: string) => (args.json ? console.error(line) : console.log(line));
  if (args.out) await checkOutputPaths([args.out, samplesPath(args.out), ...Object.values(ganCheckpointPaths(args.out))]);
  const data = limit((await loadSplits(args.data, { classes: args.classes })).train, args.limit);
  const { epochs, batch, lr, seed, limit: limited, classes } = args;
  const settings = trainerRunSettings('gan', dataFingerprint(data.images, data.labels), { epochs, batch, lr, seed, limit: limited, classes });
  const iterations = Math.floor(data.count / batch);
  const resumed = args.resume === undefined ? undefined : await readGanResume(args.resume, settings, epochs * iterations);
  const latent = 100;
  // The recipe lets PyTorch resume the GAN with the same settings.
  const recipe = ganRecipeMetadata({ ...args, latent, image: [data.height, data.width], data: args.data === undefined ? undefined : resolve(args.data) });
  let engine: Engine | undefined;
  let gan: GanTrainer | undefined;
  try {
    engine = await createEngine({ log: (m) => console.error(m) });
    if (resumed?.kernels) engine.tuner.adopt(resumed.kernels, recordedConfigRefusal);
    const pixels = data.height * data.width;
    say(`webgpu-dl: ${engine.info.description || engine.info.vendor || 'GPU'}${engine.info.software ? ' (software)' : ''}; GAN on ${data.count} images of ${data.height}×${data.width}`);
    gan = new GanTrainer(engine, {
      generator: mlpGenerator(latent, [256, 512], pixels),
      discriminator: mlpDiscriminator(pixels, [512, 256]),
      latent,
      pixels,
      optimizerG: new Adam({ lr: args.lr, beta1: 0.5 }),
      optimizerD: new Adam({ lr: args.lr, beta1: 0.5 }),
      seed: args.seed,
    });
    if (resumed) {
      loadGanResume(resumed, gan);
      say(`webgpu-dl: resumed from ${resumed.path} at the end of epoch ${resumed.point.epoch} (step ${resumed.point.steps})`);
    }
    const trained = gan;
    let reached: GanResumePoint | undefined = resumed?.point;
    const bar = progressReporter(args.json);
    const history = await gan.fit(data, {
      epochs: args.epochs,
      batchSize: args.batch,
      resumeFrom: resumed?.point,
      progressEvery: 10,
      onProgress: (p) => bar.update(`epoch ${p.epoch}/${args.epochs}  ${p.iteration}/${p.iterations}  D ${p.dLoss.toFixed(4)}  G ${p.gLoss.toFixed(4)}`, p.iteration / p.iterations),
      onEpoch: (e) => {
        if (args.json) console.log(JSON.stringify({ event: 'epoch', epoch: e.epoch, dLoss: e.dLoss, gLoss: e.gLoss, iterationsPerSec: e.iterationsPerSec }));
        else {
          bar.done(`epoch ${e.epoch}/${args.epochs}  D loss ${e.dLoss.toFixed(4)}  G loss ${e.gLoss.toFixed(4)}  ${e.iterationsPerSec.toFixed(1)} iterations/s`);
        }
      },
      afterEpoch: async (e, at) => {
        reached = at;
        const every = args.checkpointEvery;
        // Due when a multiple of N steps was passed during this epoch; the last epoch's files are the final ones.
        if (every === undefined || e.epoch === args.epochs || Math.floor((e.epoch * iterations) / every) === Math.floor(((e.epoch - 1) * iterations) / every)) return;
        await writeFilesAtomically(await ganCheckpointFiles(trained, args.out!, recipe, at, { iterations, settings }));
        say(`webgpu-dl: checkpoint at the end of epoch ${e.epoch} (step ${e.epoch * iterations}) saved to ${args.out}`);
      },
    });
    let samples: string | undefined;
    if (args.out) {
      const count = 64;
      const images = await gan.sample(fixedLatents(count, latent, args.seed), count);
      const grid = imageGrid(images, count, data.height, data.width, 8);
      samples = samplesPath(args.out);
      await writeFilesAtomically([
        // The discriminator and both optimizers' state beside the generator, so that PyTorch (or --resume) can resume the GAN.
        ...(await ganCheckpointFiles(gan, args.out, recipe, reached!, { iterations, settings })),
        { path: samples, data: await encodeGrayPng(grid.pixels, grid.width, grid.height) },
      ]);
      const rest = ganCheckpointPaths(args.out);
      say(`webgpu-dl: generator weights saved to ${args.out}, the discriminator's to ${rest.discriminator}, Adam's state to ${rest.generatorOptimizer} and ${rest.discriminatorOptimizer}, samples to ${samples}`);
    }
    const last = history[history.length - 1];
    const seconds = (performance.now() - started) / 1000;
    if (args.json) console.log(JSON.stringify({ event: 'done', dLoss: last.dLoss, gLoss: last.gLoss, seconds, samples }));
    else console.log(`done: D loss ${last.dLoss.toFixed(4)}, G loss ${last.gLoss.toFixed(4)} in ${seconds.toFixed(1)} s`);
  } finally {
    gan?.dispose();
    await engine?.close();
  }
}

// Kept importable from here for the commands that still take them from main.ts.
export { checkOutputPaths, optimizerPath, samplesPath };
