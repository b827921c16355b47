import { writeFileSync } from 'node:fs';
import { loadIdxFolder, loadMnist } from '../data/idx_files.js';
import { createEngine, type Engine } from '../gpu/engine.js';
import { mnistCnn, mnistMlp } from '../models/mnist.js';
import { Adam } from '../optim/optimizers.js';
import { Trainer } from '../train/trainer.js';
import { parseTrainArgs, UsageError, USAGE, type TrainArgs } from './args.js';
import { ProgressLine } from './progress.js';

/** Runs the command line; resolves to the process exit status. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (!command || command === '-h' || command === '--help' || command === 'help') {
      console.log(USAGE);
      return 0;
    }
    if (command !== 'train') throw new UsageError(`unknown command '${command}'; the command is 'train' (see --help)`);
    const args = parseTrainArgs(rest);
    if (args === 'help') {
      console.log(USAGE);
      return 0;
    }
    await train(args);
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
  const splits = args.data ? await loadIdxFolder(args.data) : await loadMnist();
  const train = args.limit ? limit(splits.train, args.limit) : splits.train;
  let engine: Engine | undefined;
  let trainer: Trainer | undefined;
  try {
    engine = await createEngine({ log: (m) => console.error(m) });
    const classes = Math.max(train.classes, splits.test.classes);
    const pixels = train.height * train.width;
    say(`webgpu-dl: ${engine.info.description || engine.info.vendor || 'GPU'}${engine.info.software ? ' (software)' : ''}; ${train.count} training / ${splits.test.count} test images of ${train.height}×${train.width}, ${classes} classes`);
    trainer = new Trainer(engine, {
      model: args.model === 'cnn' ? mnistCnn([train.height, train.width], classes) : mnistMlp([256, 256], pixels, classes),
      inputShape: args.model === 'cnn' ? [1, train.height, train.width] : [pixels],
      classes,
      optimizer: new Adam({ lr: args.lr }),
      seed: args.seed,
    });
    const bar = !args.json && process.stdout.isTTY ? new ProgressLine(process.stdout) : undefined;
    const history = await trainer.fit(train, {
      epochs: args.epochs,
      batchSize: args.batch,
      evaluate: splits.test,
      progressEvery: 10,
      onProgress: bar
        ? (p) => bar.update(`epoch ${p.epoch}/${args.epochs}  ${p.step}/${p.steps}  loss ${p.loss.toFixed(4)}  acc ${(100 * p.accuracy).toFixed(2)}%  ${Math.round(p.samplesPerSec)} samples/s`, p.step / p.steps)
        : undefined,
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
          const text = `epoch ${r.epoch}/${args.epochs}  loss ${r.loss.toFixed(4)}  train ${(100 * r.trainAccuracy).toFixed(2)}%  test ${(100 * r.evalAccuracy!).toFixed(2)}%  ${Math.round(r.samplesPerSec)} samples/s`;
          if (bar) bar.done(text);
          else console.log(text);
        }
      },
    });
    const last = history[history.length - 1];
    if (args.out) {
      writeFileSync(args.out, await trainer.checkpoint({ model: args.model }));
      say(`webgpu-dl: weights saved to ${args.out} (safetensors; load into the equivalent torch.nn.Sequential)`);
    }
    const seconds = (performance.now() - started) / 1000;
    if (args.json) console.log(JSON.stringify({ event: 'done', testAccuracy: last.evalAccuracy, seconds }));
    else console.log(`done: test accuracy ${(100 * last.evalAccuracy!).toFixed(2)}% in ${seconds.toFixed(1)} s`);
  } finally {
    trainer?.dispose();
    engine?.destroy();
  }
}

function limit<T extends { count: number; images: Uint8Array; labels: Uint8Array; height: number; width: number }>(d: T, n: number): T {
  if (n >= d.count) return d;
  return { ...d, count: n, images: d.images.subarray(0, n * d.height * d.width), labels: d.labels.subarray(0, n) };
}
