import type { ImageDataset } from '../data/dataset.js';
import type { Engine } from '../gpu/engine.js';
import { ShapeError } from '../gpu/errors.js';
import { GanTrainer, type GanOptions } from '../train/gan.js';
import type { JobFactory, TrainingJob } from './host.js';

/** What the page sends to start a `ganJob`. */
export interface GanJobConfig {
  images: ImageDataset;
  batchSize: number;
  /** Iterations per progress report (each report is one `GanTrainer.fit` call). */
  chunk: number;
  /** Iterations in all (0 or absent: until stopped). */
  iterations?: number;
  /** At `iterations`: end the run ('finish', the default) or pause it until resumed with a higher limit ('pause'). */
  atLimit?: 'finish' | 'pause';
  /** Latent vectors (row by row) whose generated images come with every progress report. */
  samples?: Float32Array;
  /** Anything the worker's `setup` needs to build the networks. */
  model?: unknown;
}

/** One progress report of a `ganJob`: means over the last chunk of iterations. */
export interface GanJobProgress {
  iteration: number;
  dLoss: number;
  gLoss: number;
  iterationsPerSec: number;
  /** Images (values in [−1, 1]) for `GanJobConfig.samples`, if given. */
  samples?: Float32Array;
}

/**
 * A job that trains a GAN in the worker, a chunk of iterations per report, each chunk on images
 * drawn without replacement from a seeded reshuffle of the data. `setLearningRate` sets both
 * networks' rates. Requests: `sample` ({ latents, count } → images), `parameters` (the two
 * networks' parameter counts) and `setIterations` (a new limit, e.g. to go on after pausing at the
 * old one).
 */
export function ganJob(setup: (config: GanJobConfig, engine: Engine) => GanOptions): JobFactory {
  return (engine, raw) => {
    const config = raw as GanJobConfig;
    const { images, batchSize, chunk } = config;
    if (!(Number.isInteger(chunk) && chunk >= 1)) throw new ShapeError(`ganJob: chunk ${chunk} must be a positive integer (iterations per report)`);
    const options = setup(config, engine);
    const gan = new GanTrainer(engine, options);
    const baseSeed = options.seed ?? 0;
    const pixels = images.height * images.width;
    const latentCount = (config.samples?.length ?? 0) / options.latent;
    let limit = config.iterations ?? 0;
    let done = 0;
    // A seeded Fisher–Yates reshuffle per pass: the same run draws the same images.
    let rng = (baseSeed * 2654435761 + 12345) >>> 0;
    const order = Uint32Array.from({ length: images.count }, (_, i) => i);
    let cursor = images.count;
    const nextImages = (n: number): ImageDataset => {
      const out = new Uint8Array(n * pixels);
      for (let k = 0; k < n; k++) {
        if (cursor >= order.length) {
          for (let i = order.length - 1; i > 0; i--) {
            rng = (Math.imul(rng, 1664525) + 1013904223) >>> 0;
            const j = Math.floor((rng / 4294967296) * (i + 1));
            [order[i], order[j]] = [order[j], order[i]];
          }
          cursor = 0;
        }
        const s = order[cursor++];
        out.set(images.images.subarray(s * pixels, (s + 1) * pixels), k * pixels);
      }
      return { images: out, labels: new Uint8Array(n), count: n, height: images.height, width: images.width, classes: images.classes };
    };

    const job: TrainingJob = {
      async run(ctx) {
        const history: GanJobProgress[] = [];
        while (!ctx.stopping) {
          if (limit > 0 && done >= limit) {
            if ((config.atLimit ?? 'finish') === 'finish') break;
            ctx.pause(`stopped after ${done} iterations`);
          }
          const wait = ctx.gate();
          if (wait) await wait;
          if (ctx.stopping) break;
          if (limit > 0 && done >= limit) continue;
          const n = limit > 0 ? Math.min(chunk, limit - done) : chunk;
          // fit draws its latent noise from options.seed: a new seed per call keeps calls from replaying the same noise.
          gan.options.seed = baseSeed * 100_003 + done;
          const [e] = await gan.fit(nextImages(n * batchSize), { epochs: 1, batchSize, iterations: n, beforeStep: () => ctx.gate() });
          if (!e) break; // stopped part way
          done += n;
          const samples = latentCount > 0 ? await gan.sample(config.samples!, latentCount) : undefined;
          const report: GanJobProgress = { iteration: done, dLoss: e.dLoss, gLoss: e.gLoss, iterationsPerSec: e.iterationsPerSec, samples };
          history.push({ ...report, samples: undefined });
          ctx.progress(report, samples ? [samples.buffer as ArrayBuffer] : []);
        }
        return history;
      },
      setLearningRate(lr) {
        options.optimizerG.lr = lr;
        options.optimizerD.lr = lr;
      },
      checkpoint: () => gan.generatorCheckpoint(),
      requests: {
        sample: (args) => {
          const { latents, count } = args as { latents: Float32Array; count: number };
          return gan.sample(latents, count);
        },
        parameters: () => ({ generator: gan.generatorStore.count, discriminator: gan.discriminatorStore.count }),
        setIterations: (n) => {
          if (!(Number.isInteger(n) && (n as number) >= 0)) throw new ShapeError(`ganJob setIterations: ${String(n)} must be a whole number of iterations (0: no limit)`);
          limit = n as number;
          return done;
        },
      },
      stop: () => gan.dispose(),
      dispose: () => gan.dispose(),
    };
    return job;
  };
}
