import type * as TF from '@tensorflow/tfjs';
import readme from '../../README.md?raw';
import { textCorpus, WindowSampler, type TextCorpus } from '../../src/data/text.js';
import { GpuText } from '../../src/data/text_windows.js';
import type { Engine } from '../../src/gpu/engine.js';
import { compileStep } from '../../src/graph/compile.js';
import { ParameterStore } from '../../src/graph/params.js';
import { charTransformer } from '../../src/models/transformer.js';
import { crossEntropy } from '../../src/nn/cross_entropy.js';
import { AdamW } from '../../src/optim/optimizers.js';
import { tfjsFinish } from '../lib/tfjs.js';
import { checkLosses } from '../data/training.js';
import { tfjsTransformer } from '../lib/tfjs_transformer.js';
import type { Runner, Workload } from '../workload.js';

/** The text both engines train on: the project's own README, served with the page (real text, about 90 distinct characters). */
const SOURCE = 'README.md';
const LR = 1e-3;
/** AdamW's default decoupled decay (torch's and ours). */
const WEIGHT_DECAY = 1e-2;
/** Window starts drawn once per run set-up; steps cycle through them, so no step writes to the GPU. */
const PLANNED_BATCHES = 32;
const SETUP_STEPS = 2;

interface TransformerShape {
  id: string;
  layers: number;
  heads: number;
  dim: number;
  context: number;
  batch: number;
  steps: number;
}

function corpusOf(s: TransformerShape): TextCorpus {
  return textCorpus(new TextEncoder().encode(readme), { context: s.context, source: SOURCE });
}

/** Window starts for PLANNED_BATCHES batches from the training split, the same on both sides. */
function plannedStarts(corpus: TextCorpus, s: TransformerShape): Uint32Array {
  return new WindowSampler(corpus.trainTokens - s.context, 1).next(new Uint32Array(PLANNED_BATCHES * s.batch));
}

/** Ours as TextTrainer builds it: one compiled step (forward, cross-entropy, backward, AdamW) with the windows gathered on the GPU. */
async function ours(engine: Engine, s: TransformerShape): Promise<Runner> {
  const corpus = corpusOf(s);
  const store = new ParameterStore(engine, { seed: 1 });
  const model = charTransformer({ vocab: corpus.vocab.length, context: s.context, layers: s.layers, heads: s.heads, dim: s.dim });
  model.register(store);
  const optimizer = new AdamW({ lr: LR, weightDecay: WEIGHT_DECAY });
  const owned: { dispose(): void }[] = [store];
  const disposeAll = () => owned.reverse().forEach((d) => d.dispose());
  try {
    const step = await compileStep(engine, {
      inputs: { x: { shape: [s.batch, s.context], dtype: 'u32' }, labels: { shape: [s.batch, s.context], dtype: 'u32' } },
      stores: [store],
      build: (g, { x, labels }) => {
        const { loss } = crossEntropy(g, model.apply(g, x, { store, training: true }), labels);
        return { outputs: { loss }, minimize: { loss, store, optimizer } };
      },
    });
    owned.push(step);
    const text = new GpuText(engine, corpus);
    owned.push(text);
    const gather = await text.gather(step.inputRange('x'), step.inputRange('labels'), s.batch, plannedStarts(corpus, s));
    owned.push(gather);
    let next = 0;
    const one = () => step.run({}, { before: (e) => gather.encode(e, (next++ % PLANNED_BATCHES) * s.batch) });
    const losses: number[] = [];
    for (let i = 0; i < SETUP_STEPS; i++) {
      one();
      losses.push((await step.read('loss'))[0]);
    }
    checkLosses(s.id, 'webgpu-dl', losses);
    const extra = { planDispatches: step.stats.dispatches, gpuBytes: step.stats.bytes + store.bytes, firstLoss: losses[0], vocab: corpus.vocab.length };
    return {
      async run() {
        for (let i = 0; i < s.steps; i++) one();
        await engine.device.queue.onSubmittedWorkDone();
      },
      dispose: disposeAll,
      extra: () => extra,
    };
  } catch (e) {
    disposeAll();
    throw e;
  }
}

/** The same GPT as a TF.js user writes it with ops and variables (see `tfjsTransformer`). */
async function tfjs(tf: typeof TF, s: TransformerShape): Promise<Runner> {
  const corpus = corpusOf(s);
  const starts = plannedStarts(corpus, s);
  const model = tfjsTransformer(tf, { vocab: corpus.vocab.length, ...s });
  const optimizer = tf.train.adam(LR);
  const windows = (b: number) => {
    const x = new Int32Array(s.batch * s.context);
    const y = new Int32Array(s.batch * s.context);
    for (let i = 0; i < s.batch; i++) {
      const start = starts[b * s.batch + i];
      for (let t = 0; t < s.context; t++) {
        x[i * s.context + t] = corpus.tokens[start + t];
        y[i * s.context + t] = corpus.tokens[start + t + 1];
      }
    }
    return [x, y] as const;
  };
  let next = 0;
  /** One step; the loss is returned (for the caller to read or dispose). */
  const one = () =>
    tf.tidy(() => {
      const [xs, ys] = windows(next++ % PLANNED_BATCHES);
      const x = tf.tensor2d(xs, [s.batch, s.context], 'int32');
      const y = tf.tensor1d(ys, 'int32');
      const loss = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(tf.oneHot(y, corpus.vocab.length), model.logits(x)), true, model.variables)!;
      // AdamW's decoupled decay by hand on every variable, as torch.optim.AdamW(model.parameters()) and ours do: tf.train.adam has none.
      for (const v of model.variables) v.assign(v.mul(1 - LR * WEIGHT_DECAY));
      return loss;
    });
  try {
    const losses: number[] = [];
    for (let i = 0; i < SETUP_STEPS; i++) {
      const loss = one();
      losses.push((await loss.data())[0]);
      loss.dispose();
    }
    checkLosses(s.id, 'TF.js', losses);
    const extra = { tensorBytes: tf.memory().numBytes, firstLoss: losses[0] };
    return {
      async run() {
        for (let i = 0; i < s.steps; i++) one().dispose();
        await tfjsFinish(tf);
      },
      dispose() {
        model.dispose();
        optimizer.dispose();
      },
      extra: () => extra,
    };
  } catch (e) {
    model.dispose();
    optimizer.dispose();
    throw e;
  }
}

function workload(s: TransformerShape): Workload {
  return {
    id: s.id,
    unit: 'tokens/s',
    workPerRun: s.steps * s.batch * s.context,
    batch: s.batch,
    stepsPerRun: s.steps,
    ours: (engine) => ours(engine, s),
    tfjs: (tf) => tfjs(tf, s),
  };
}

/** charTransformer 4 layers, 4 heads, 128 wide, context 64, batch 12, AdamW 1e-3. */
const FULL: TransformerShape = { id: 'W5-transformer', layers: 4, heads: 4, dim: 128, context: 64, batch: 12, steps: 1 };
/** The same network at batch 2: small enough for a software adapter. */
const QUICK: TransformerShape = { ...FULL, id: 'W5-transformer-quick', batch: 2 };

export default [workload(FULL), workload(QUICK)];
