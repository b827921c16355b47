import type * as TF from '@tensorflow/tfjs';
import type { BufferRange } from '../../src/gpu/buffers.js';
import type { Engine } from '../../src/gpu/engine.js';
import { encodeLaunch, makeLaunch } from '../../src/gpu/launch.js';
import { GpuImageDataset, SYMMETRIC_RANGE } from '../../src/data/gpu_dataset.js';
import type { ImageDataset } from '../../src/data/dataset.js';
import { compileStep, type CompiledStep } from '../../src/graph/compile.js';
import type { Graph, Value } from '../../src/graph/ir.js';
import { ParameterStore } from '../../src/graph/params.js';
import { randomNormalKernel } from '../../src/kernels/random.js';
import { LeakyReLU, Linear, Sequential, Tanh } from '../../src/nn/layers.js';
import { Adam } from '../../src/optim/optimizers.js';
import { mnistTrainSubset } from '../data/mnist.js';
import { checkLosses, countDispatches, normalisedPixels } from '../data/training.js';
import type { Runner, Workload } from '../workload.js';

const ID = 'W4-gan';
const SAMPLES = 4096;
/** The batch size the browser page runs; `atBatch` makes the same workload at others. */
const BATCH = 64;
const LATENT = 100;
const PIXELS = 784;
/** GAN iterations (a D step then a G step) per timed run. */
const ITERATIONS = 2;
const SETUP_ITERATIONS = 2;
const ADAM = { lr: 2e-4, beta1: 0.5 };

/** G: z(100)→256→512→784, LeakyReLU 0.2, tanh (images in [−1, 1]). */
const generator = () =>
  new Sequential(new Linear(LATENT, 256), LeakyReLU(0.2), new Linear(256, 512), LeakyReLU(0.2), new Linear(512, PIXELS), Tanh());
/** D: 784→512→256→1 logit, LeakyReLU 0.2. */
const discriminator = () => new Sequential(new Linear(PIXELS, 512), LeakyReLU(0.2), new Linear(512, 256), LeakyReLU(0.2), new Linear(256, 1));

/**
 * Fills a step input with fresh N(0, 1) draws on the GPU before the step's pass: the pipeline and
 * bind group are made once; each fill rewrites only the Philox seed in the uniform.
 */
async function normalFiller(engine: Engine, target: BufferRange) {
  const n = target.size / 4;
  const spec = randomNormalKernel(n, 0, 1, 0);
  const owned: GPUBuffer[] = [];
  const launch = await makeLaunch(engine, spec, [target], owned);
  const uniform = launch.uniform!;
  return {
    encode(encoder: GPUCommandEncoder, seed: number) {
      // Written before the submit that records this fill, so queued fills each see their own seed.
      engine.device.queue.writeBuffer(uniform, 0, randomNormalKernel(n, 0, 1, seed).uniforms!);
      const pass = encoder.beginComputePass({ label: 'z ~ N(0, 1)' });
      encodeLaunch(pass, launch);
      pass.end();
    },
    dispose: () => owned.forEach((b) => engine.buffers.destroy(b)),
  };
}

const bce = (g: Graph, logits: Value, targets: Value) => g.apply('bce_with_logits', [logits, targets], {})[0];

/**
 * Our side: G and D in two parameter stores and two compiled steps. The D step reads G's parameters
 * but minimises only D's store, with G's output detached; the G step minimises only G's store, so D's
 * parameters are used in it but neither differentiated nor updated.
 */
async function oursGan(engine: Engine, data: ImageDataset, batch: number): Promise<Runner> {
  const gStore = new ParameterStore(engine, { seed: 1 });
  const dStore = new ParameterStore(engine, { seed: 2 });
  const G = generator();
  const D = discriminator();
  G.register(gStore, 'G');
  D.register(dStore, 'D');
  const owned: { dispose(): void }[] = [gStore, dStore];
  const dispose = () => owned.reverse().forEach((o) => o.dispose());
  try {
    const gOpt = new Adam(ADAM);
    const dOpt = new Adam(ADAM);
    const dStep = await compileStep(engine, {
      inputs: { real: { shape: [batch, PIXELS] }, z: { shape: [batch, LATENT] }, ones: { shape: [batch, 1] }, zeros: { shape: [batch, 1] } },
      stores: [gStore, dStore],
      build: (g, { real, z, ones, zeros }) => {
        const fake = g.apply('stop_gradient', [G.apply(g, z, { store: gStore, training: true })], {})[0];
        const lossReal = bce(g, D.apply(g, real, { store: dStore, training: true }), ones);
        const lossFake = bce(g, D.apply(g, fake, { store: dStore, training: true }), zeros);
        const loss = g.apply('add', [lossReal, lossFake], {})[0];
        return { outputs: { loss }, minimize: { loss, store: dStore, optimizer: dOpt } };
      },
    });
    owned.push(dStep);
    const gStep = await compileStep(engine, {
      inputs: { z: { shape: [batch, LATENT] }, ones: { shape: [batch, 1] } },
      stores: [gStore, dStore],
      build: (g, { z, ones }) => {
        const loss = bce(g, D.apply(g, G.apply(g, z, { store: gStore, training: true }), { store: dStore, training: true }), ones);
        return { outputs: { loss }, minimize: { loss, store: gStore, optimizer: gOpt } };
      },
    });
    owned.push(gStep);
    const gpu = new GpuImageDataset(engine, data, SYMMETRIC_RANGE);
    owned.push(gpu);
    // The gather also writes labels, which the GAN does not use.
    const labels = engine.createStorage(batch * 4, 'unused labels');
    owned.push({ dispose: () => engine.buffers.destroy(labels) });
    const batcher = await gpu.batcher(batch, dStep.inputRange('real'), { buffer: labels, offset: 0, size: batch * 4 });
    owned.push(batcher);
    const dNoise = await normalFiller(engine, dStep.inputRange('z'));
    owned.push(dNoise);
    const gNoise = await normalFiller(engine, gStep.inputRange('z'));
    owned.push(gNoise);

    const ones = new Float32Array(batch).fill(1);
    const batches = Math.floor(data.count / batch);
    let t = 0;
    const iteration = (feeds: { d?: Record<string, Float32Array>; g?: Record<string, Float32Array> } = {}) => {
      const i = t++;
      dStep.run(feeds.d ?? {}, {
        before: (e) => {
          batcher.encode(e, (i % batches) * batch);
          dNoise.encode(e, 2 * i + 1);
        },
      });
      gStep.run(feeds.g ?? {}, { before: (e) => gNoise.encode(e, 2 * i + 2) });
    };
    const losses: number[] = [];
    iteration({ d: { ones, zeros: new Float32Array(batch) }, g: { ones } });
    losses.push((await dStep.read('loss'))[0], (await gStep.read('loss'))[0]);
    for (let i = 1; i < SETUP_ITERATIONS; i++) {
      iteration();
      losses.push((await dStep.read('loss'))[0], (await gStep.read('loss'))[0]);
    }
    checkLosses(ID, 'webgpu-dl', losses);
    const dispatches = await countDispatches(() => iteration());
    await engine.sync();
    const steps: CompiledStep<string>[] = [dStep, gStep];
    const extra = {
      dispatchesPerStep: dispatches,
      planDispatchesD: dStep.stats.dispatches,
      planDispatchesG: gStep.stats.dispatches,
      gpuBytes: steps.reduce((s, x) => s + x.stats.bytes, 0) + gStore.bytes + dStore.bytes,
      firstLossD: losses[0],
      firstLossG: losses[1],
    };
    return {
      async run() {
        for (let i = 0; i < ITERATIONS; i++) iteration();
        await engine.device.queue.onSubmittedWorkDone();
      },
      dispose,
      extra: () => extra,
    };
  } catch (e) {
    dispose();
    throw e;
  }
}

function dense(tf: typeof TF, units: number, inputShape?: number[]) {
  return tf.layers.dense({ units, inputShape });
}

/**
 * TF.js as its GAN examples train: two tf.sequential models, `optimizer.minimize` over each model's
 * variables (D's step does not reach G's variables, which detaches the fakes), z from tf.randomNormal,
 * and the losses read back once per run.
 */
async function tfjsGan(tf: typeof TF, data: ImageDataset, batch: number): Promise<Runner> {
  const pixels = normalisedPixels(data, SYMMETRIC_RANGE);
  const leaky = () => tf.layers.leakyReLU({ alpha: 0.2 });
  const G = tf.sequential({
    layers: [dense(tf, 256, [LATENT]), leaky(), dense(tf, 512), leaky(), tf.layers.dense({ units: PIXELS, activation: 'tanh' })],
  });
  const D = tf.sequential({ layers: [dense(tf, 512, [PIXELS]), leaky(), dense(tf, 256), leaky(), dense(tf, 1)] });
  const gVars = G.trainableWeights.map((w) => w.read() as TF.Variable);
  const dVars = D.trainableWeights.map((w) => w.read() as TF.Variable);
  const gOpt = tf.train.adam(ADAM.lr, ADAM.beta1);
  const dOpt = tf.train.adam(ADAM.lr, ADAM.beta1);
  const ones = tf.ones([batch, 1]);
  const zeros = tf.zeros([batch, 1]);
  const batches = Math.floor(data.count / batch);
  let t = 0;
  const iteration = () => {
    const b = t++ % batches;
    const real = tf.tensor2d(pixels.subarray(b * batch * PIXELS, (b + 1) * batch * PIXELS), [batch, PIXELS]);
    const dLoss = dOpt.minimize(
      () => {
        const fake = G.apply(tf.randomNormal([batch, LATENT])) as TF.Tensor;
        const lossReal = tf.losses.sigmoidCrossEntropy(ones, D.apply(real) as TF.Tensor);
        const lossFake = tf.losses.sigmoidCrossEntropy(zeros, D.apply(fake) as TF.Tensor);
        return tf.add(lossReal, lossFake) as TF.Scalar;
      },
      true,
      dVars,
    )!;
    const gLoss = gOpt.minimize(
      () => tf.losses.sigmoidCrossEntropy(ones, D.apply(G.apply(tf.randomNormal([batch, LATENT]))) as TF.Tensor) as TF.Scalar,
      true,
      gVars,
    )!;
    real.dispose();
    return [dLoss, gLoss];
  };
  const readLosses = async (ls: TF.Scalar[]) => {
    const values = await Promise.all(ls.map(async (l) => (await l.data())[0]));
    tf.dispose(ls);
    return values;
  };
  const disposeAll = () => {
    G.dispose();
    D.dispose();
    gOpt.dispose();
    dOpt.dispose();
    tf.dispose([ones, zeros]);
  };
  try {
    const losses: number[] = [];
    for (let i = 0; i < SETUP_ITERATIONS; i++) losses.push(...(await readLosses(iteration())));
    checkLosses(ID, 'TF.js', losses);
    const dispatches = await countDispatches(() => readLosses(iteration()));
    const memory = tf.memory() as TF.MemoryInfo & { numBytesInGPU?: number; numBytesAllocatedInGPU?: number };
    const extra: Record<string, number> = { dispatchesPerStep: dispatches, tensorBytes: memory.numBytes, firstLossD: losses[0], firstLossG: losses[1] };
    if (memory.numBytesInGPU !== undefined) extra.gpuBytes = memory.numBytesInGPU;
    if (memory.numBytesAllocatedInGPU !== undefined) extra.gpuBytesPooled = memory.numBytesAllocatedInGPU;
    return {
      async run() {
        let last: TF.Scalar[] = [];
        for (let i = 0; i < ITERATIONS; i++) {
          tf.dispose(last);
          last = iteration();
        }
        await readLosses(last);
      },
      dispose: disposeAll,
      extra: () => extra,
    };
  } catch (e) {
    disposeAll();
    throw e;
  }
}

/** The GAN at `batch`: id W4-gan at the batch the page runs, W4-gan-b<batch> at others. */
function ganWorkload(batch: number): Workload {
  if (!Number.isInteger(batch) || batch < 1 || batch > SAMPLES) {
    throw new RangeError(`${ID}: batch ${batch} must be an integer from 1 to ${SAMPLES}, the MNIST images it trains on`);
  }
  return {
    id: batch === BATCH ? ID : `${ID}-b${batch}`,
    unit: 'iterations/s',
    workPerRun: ITERATIONS,
    batch,
    stepsPerRun: ITERATIONS,
    atBatch: ganWorkload,
    async ours(engine) {
      return oursGan(engine, await mnistTrainSubset(SAMPLES), batch);
    },
    async tfjs(tf) {
      return tfjsGan(tf, await mnistTrainSubset(SAMPLES), batch);
    },
  };
}

const gan = ganWorkload(BATCH);

export default [gan];
