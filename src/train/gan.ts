import type { ImageDataset } from '../data/dataset.js';
import { GpuImageDataset, SYMMETRIC_RANGE } from '../data/gpu_dataset.js';
import type { Engine } from '../gpu/engine.js';
import { DivergenceError, ShapeError } from '../gpu/errors.js';
import { checkSeed } from './seed.js';
import { decodeStepHealth } from '../graph/step_health.js';
import { compileStep, type CompiledStep } from '../graph/compile.js';
import { ParameterStore } from '../graph/params.js';
import type { Module } from '../nn/module.js';
import type { Optimizer } from '../optim/optimizers.js';
import { MetricSums } from './metric_sums.js';
import { checkEpochsAndBatch, ProgressReports } from './epoch_loop.js';
import { Lifecycle } from './lifecycle.js';
import { NoiseSource } from './noise.js';
import { runMetadata } from './optimizer_checkpoint.js';
import { encodeSafetensors, type NamedTensor } from './safetensors.js';

/** `GanTrainer`'s two models, latent and image sizes, optimizers and seed. */
export interface GanOptions {
  generator: Module;
  discriminator: Module;
  /** Length of the latent vector z. */
  latent: number;
  /** Pixels per image (what G outputs and D takes, flattened). */
  pixels: number;
  optimizerG: Optimizer;
  optimizerD: Optimizer;
  seed?: number;
}

/** The mean losses of one GAN epoch. */
export interface GanEpoch {
  epoch: number;
  /** Mean discriminator loss BCE(D(real), 1) + BCE(D(G(z)), 0) over the epoch's iterations. */
  dLoss: number;
  /** Mean generator loss BCE(D(G(z)), 1). */
  gLoss: number;
  iterationsPerSec: number;
  seconds: number;
}

/** How far a GAN run got at the end of an epoch: with the weights and optimizer state, what resumes it exactly. */
export interface GanResumePoint {
  /** Epochs done. */
  epoch: number;
  /** The D and G training steps' runs and updates (`CompiledStep.runCount`, `step`). */
  dRuns: number;
  dUpdates: number;
  gRuns: number;
  gUpdates: number;
}

/** Options of `GanTrainer.fit`. */
export interface GanFitOptions {
  epochs: number;
  batchSize?: number;
  /** Iterations per epoch (default: one pass over the images). */
  iterations?: number;
  /** Called after every epoch. */
  onEpoch?: (e: GanEpoch) => void;
  /** Called every `progressEvery` iterations with running means (read without stalling). */
  onProgress?: (p: { epoch: number; iteration: number; iterations: number; dLoss: number; gLoss: number }) => void;
  progressEvery?: number;
  /** Called before every iteration; a promise it returns is awaited first (a pause between iterations). */
  beforeStep?: () => Promise<void> | undefined;
  /**
   * Called after each epoch's `onEpoch` and awaited before the next epoch starts, with the run's
   * position: the moment to save a checkpoint that `resumeFrom` continues from.
   */
  afterEpoch?: (e: GanEpoch, at: GanResumePoint) => Promise<void>;
  /**
   * Continue a run from the end of epoch `resumeFrom.epoch`, its weights and optimizer state (the
   * stores' step counts included) already loaded: the same shuffles and noise as if it had never stopped.
   */
  resumeFrom?: GanResumePoint;
}

type DInputs = 'real' | 'labels' | 'z' | 'ones' | 'zeros';

/**
 * Trains a GAN on the GPU: each iteration is a discriminator step on real and generated images
 * (G frozen, its output detached) and a generator step through a frozen D, each one command buffer,
 * with real batches gathered and latent noise drawn on the GPU.
 */
export class GanTrainer {
  readonly generatorStore: ParameterStore;
  readonly discriminatorStore: ParameterStore;
  private readonly sampleSteps = new Map<number, CompiledStep<'z'>>();
  private readonly lifecycle = new Lifecycle('GanTrainer', () => this.release());

  constructor(
    readonly engine: Engine,
    readonly options: GanOptions,
  ) {
    const seed = options.seed ?? 0;
    checkSeed('GanTrainer', seed);
    this.generatorStore = new ParameterStore(engine, { seed: seed * 2 + 1 });
    this.discriminatorStore = new ParameterStore(engine, { seed: seed * 2 + 2 });
    // Distinct prefixes keep G's and D's parameter names apart within one graph.
    options.generator.register(this.generatorStore, 'G');
    options.discriminator.register(this.discriminatorStore, 'D');
  }

  private generate(g: Parameters<Module['apply']>[0], z: Parameters<Module['apply']>[1]) {
    const fake = this.options.generator.apply(g, z, { store: this.generatorStore, training: true });
    if (fake.shape.length !== 2 || fake.shape[1] !== this.options.pixels) {
      throw new ShapeError(`the generator outputs [${fake.shape.join(', ')}]; expected [batch, ${this.options.pixels}]`);
    }
    return fake;
  }

  private discriminate(g: Parameters<Module['apply']>[0], x: Parameters<Module['apply']>[1]) {
    const logits = this.options.discriminator.apply(g, x, { store: this.discriminatorStore, training: true });
    if (logits.shape.length !== 2 || logits.shape[1] !== 1) {
      throw new ShapeError(`the discriminator outputs [${logits.shape.join(', ')}]; expected one logit per image, [batch, 1]`);
    }
    return logits;
  }

  /**
   * Trains for `o.epochs` epochs and resolves with one result per finished epoch. A second `fit`
   * while one runs is refused with a BusyError; `dispose()` during fit stops it before its next
   * iteration, frees everything once it has stopped, and fit resolves with the epochs finished.
   * A non-finite loss or gradient stops the updates of that network's step on the GPU, and fit rejects
   * at the end of that epoch with a DivergenceError naming the iteration and the tensor.
   */
  fit(data: ImageDataset, o: GanFitOptions): Promise<GanEpoch[]> {
    return this.lifecycle.fit('fit', () => this.train(data, o));
  }

  private async train(data: ImageDataset, o: GanFitOptions): Promise<GanEpoch[]> {
    const { latent, pixels } = this.options;
    const batch = o.batchSize ?? 64;
    if (data.height * data.width !== pixels) throw new ShapeError(`images of ${data.height}×${data.width} do not fit a GAN of ${pixels} pixels`);
    checkEpochsAndBatch('GanTrainer.fit', o.epochs, batch, data.count);
    const done = o.resumeFrom?.epoch;
    if (done !== undefined && !(Number.isInteger(done) && done >= 0 && done < o.epochs)) {
      throw new ShapeError(`GanTrainer.fit: resumeFrom.epoch ${done} must be the epochs a run of ${o.epochs} had done before its last (0 to ${o.epochs - 1})`);
    }
    if (o.iterations !== undefined && !(Number.isInteger(o.iterations) && o.iterations >= 1)) {
      throw new ShapeError(`GanTrainer.fit: iterations ${o.iterations} must be a positive integer (per epoch; default: images / batch)`);
    }
    const stores = [this.generatorStore, this.discriminatorStore];
    // Everything made below, disposed in reverse order however far the setup got.
    const owned: { dispose(): void }[] = [];
    const own = <T extends { dispose(): void }>(x: T): T => (owned.push(x), x);
    const progress = new ProgressReports();
    try {
      const dStep = own(await compileStep<DInputs>(this.engine, {
        inputs: { real: { shape: [batch, pixels] }, labels: { shape: [batch], dtype: 'u32' }, z: { shape: [batch, latent] }, ones: { shape: [batch, 1] }, zeros: { shape: [batch, 1] } },
        stores,
        build: (g, { real, z, ones, zeros }) => {
          const fake = g.apply('stop_gradient', [this.generate(g, z)], {})[0];
          const [lossReal] = g.apply('bce_with_logits', [this.discriminate(g, real), ones], {});
          const [lossFake] = g.apply('bce_with_logits', [this.discriminate(g, fake), zeros], {});
          const loss = g.apply('add', [lossReal, lossFake], {})[0];
          return { outputs: { loss }, minimize: { loss, store: this.discriminatorStore, optimizer: this.options.optimizerD } };
        },
      }));
      const gStep = own(await compileStep<'z' | 'ones'>(this.engine, {
        inputs: { z: { shape: [batch, latent] }, ones: { shape: [batch, 1] } },
        stores,
        build: (g, { z, ones }) => {
          // D's parameters are read but not differentiated: only the minimized store is trained.
          const [loss] = g.apply('bce_with_logits', [this.discriminate(g, this.generate(g, z)), ones], {});
          return { outputs: { loss }, minimize: { loss, store: this.generatorStore, optimizer: this.options.optimizerG } };
        },
      }));
      const images = own(new GpuImageDataset(this.engine, data, SYMMETRIC_RANGE));
      const batcher = own(await images.batcher(batch, dStep.inputRange('real'), dStep.inputRange('labels')));
      const seed = this.options.seed ?? 0;
      const noiseD = own(await NoiseSource.create(this.engine, dStep.inputRange('z'), batch * latent, seed * 3 + 101));
      const noiseG = own(await NoiseSource.create(this.engine, gStep.inputRange('z'), batch * latent, seed * 3 + 102));
      const sums = own(await MetricSums.create(this.engine, ['d', 'g'], [dStep.outputRange('loss'), gStep.outputRange('loss')]));
      const ones = new Float32Array(batch).fill(1);
      dStep.write({ ones, zeros: new Float32Array(batch) });
      gStep.write({ ones });
      const iterations = o.iterations ?? Math.floor(data.count / batch);
      const history: GanEpoch[] = [];
      const from = o.resumeFrom;
      if (from) {
        dStep.continueFrom(from.dRuns, from.dUpdates);
        gStep.continueFrom(from.gRuns, from.gUpdates);
      }
      for (let epoch = (from?.epoch ?? 0) + 1; epoch <= o.epochs; epoch++) {
        images.shuffle(seed * 7919 + epoch);
        sums.reset();
        const started = performance.now();
        for (let i = 0; i < iterations; i++) {
          progress.rethrow();
          const pause = o.beforeStep?.();
          if (pause) await pause;
          if (this.lifecycle.stopping) return history;
          // Noise stream = the update about to run (0-based): a run resumed from a checkpoint goes on
          // with the noise the uninterrupted run would have drawn.
          dStep.run({}, { before: (e) => (batcher.encode(e, i * batch), noiseD.encode(e, this.discriminatorStore.optimizerSteps - 1)) });
          let collect: ReturnType<MetricSums['snapshot']>;
          const report = o.onProgress && (i + 1) % (o.progressEvery ?? 20) === 0;
          gStep.run({}, {
            before: (e) => noiseG.encode(e, this.generatorStore.optimizerSteps - 1),
            inPass: (pass) => sums.encode(pass),
            after: report ? (e) => (collect = sums.snapshot(e)) : undefined,
          });
          if (collect!) {
            const done = i + 1;
            progress.add(collect().then(({ sums: s }) => o.onProgress!({ epoch, iteration: done, iterations, dLoss: s.d / done, gLoss: s.g / done })));
            collect = undefined;
          }
          if (i % 8 === 7) await this.engine.device.queue.onSubmittedWorkDone();
        }
        const { sums: s } = await sums.read();
        progress.rethrow();
        if (this.lifecycle.stopping) return history;
        // The GPU has finished the epoch: reading the two small health records costs no stall.
        for (const [step, store] of [[dStep, this.discriminatorStore], [gStep, this.generatorStore]] as const) {
          const range = step.healthRange!;
          const health = decodeStepHealth(new Uint32Array(await this.engine.readBytes(range.buffer, range.size, range.offset)), store);
          if (health.halted) throw new DivergenceError(health.firstBadRun, Math.ceil(health.firstBadRun / iterations), health.firstBad!, 'GanTrainer.fit');
        }
        const seconds = (performance.now() - started) / 1000;
        const e: GanEpoch = { epoch, dLoss: s.d / iterations, gLoss: s.g / iterations, iterationsPerSec: iterations / seconds, seconds };
        history.push(e);
        o.onEpoch?.(e);
        await o.afterEpoch?.(e, { epoch, dRuns: dStep.runCount, dUpdates: dStep.step, gRuns: gStep.runCount, gUpdates: gStep.step });
      }
      return history;
    } finally {
      await progress.settle();
      for (const x of owned.reverse()) x.dispose();
    }
  }

  /** Generated images (values in [−1, 1]) for `count` latent vectors given row by row. */
  sample(latents: Float32Array, count: number): Promise<Float32Array> {
    return this.lifecycle.use('sample', () => this.generateImages(latents, count));
  }

  private async generateImages(latents: Float32Array, count: number): Promise<Float32Array> {
    if (latents.length !== count * this.options.latent) {
      throw new ShapeError(`sample: ${latents.length} latent values for ${count} vectors of ${this.options.latent}`);
    }
    let step = this.sampleSteps.get(count);
    if (!step) {
      step = await compileStep<'z'>(this.engine, {
        inputs: { z: { shape: [count, this.options.latent] } },
        stores: [this.generatorStore],
        build: (g, { z }) => ({ outputs: { images: this.generate(g, z) } }),
      });
      this.sampleSteps.set(count, step);
    }
    step.run({ z: latents });
    return step.read('images');
  }

  /**
   * Generator weights as safetensors named like the generator's torch.nn.Sequential state_dict,
   * with the generator's `run_id` and `step` (its optimizer's update count) in the metadata.
   */
  async generatorCheckpoint(): Promise<Uint8Array> {
    const tensors: NamedTensor[] = [];
    for (const p of this.generatorStore.stateDict) {
      tensors.push({ name: p.name.replace(/^G\./, ''), shape: p.shape, data: await this.generatorStore.read(p.name) });
    }
    return encodeSafetensors(tensors, { format: 'pt', model: 'generator', ...runMetadata(this.generatorStore) });
  }

  /** Frees the GPU memory; during a fit, as soon as the fit has stopped (before its next iteration). */
  dispose(): void {
    this.lifecycle.dispose();
  }

  private release(): void {
    for (const s of this.sampleSteps.values()) s.dispose();
    this.sampleSteps.clear();
    this.generatorStore.dispose();
    this.discriminatorStore.dispose();
  }
}

/** Standard normal latent vectors from a seed (Box–Muller on a small LCG), for fixed sample grids. */
export function fixedLatents(count: number, latent: number, seed: number): Float32Array {
  let state = (seed * 747796405 + 2891336453) >>> 0;
  const uniform = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state + 0.5) / 4294967296;
  };
  const out = new Float32Array(count * latent);
  for (let i = 0; i < out.length; i += 2) {
    const r = Math.sqrt(-2 * Math.log(uniform()));
    const t = 2 * Math.PI * uniform();
    out[i] = r * Math.cos(t);
    if (i + 1 < out.length) out[i + 1] = r * Math.sin(t);
  }
  return out;
}
