import { DatasetError } from '../../src/data/idx.js';
import { decodeTokens, encodeText, textCorpus } from '../../src/data/text.js';
import { charTransformer } from '../../src/models/transformer.js';
import { AdamW } from '../../src/optim/optimizers.js';
import { Predictor } from '../../src/train/predictor.js';
import { CheckpointError, checkCheckpoint, decodeSafetensors } from '../../src/train/safetensors.js';
import { TextTrainer } from '../../src/train/text_trainer.js';
import type { JobContext, JobFactory, TrainingJob } from '../../src/worker/index.js';
import { cpuForward } from './text_attention.js';

/** The model sizes the Text page offers (the vocabulary comes from the text). */
export interface TextModelSizes {
  context: number;
  layers: number;
  heads: number;
  dim: number;
}

/** What the page may change while training runs. */
export interface TextSettings {
  /** Pause by itself after this many steps (0: never). */
  maxSteps: number;
  evalEvery: number;
  sampleEvery: number;
  sampleTokens: number;
  temperature: number;
  /** What generated samples continue. */
  prompt: string;
}

/** What the Text page sends to start training. */
export interface TextJobConfig {
  /** The text as UTF-8 bytes. */
  text: Uint8Array;
  source: string;
  model: TextModelSizes;
  batch: number;
  lr: number;
  seed: number;
  /** Fixed windows per split each evaluation averages. */
  evalWindows: number;
  settings: TextSettings;
}

/** Posted once the model is built (event 'built'). */
export interface TextBuilt {
  parameters: number;
  vocab: string[];
  characters: number;
  trainCharacters: number;
}

/** Posted after every chunk of steps. */
export interface TextChunk {
  step: number;
  /** The last step's training-batch loss (nats per character). */
  loss: number;
  stepMs: number;
  tokensPerSec: number;
}

export interface TextEvaluation {
  step: number;
  trainLoss: number;
  valLoss: number;
}

export interface TextSample {
  step: number;
  prompt: string;
  text: string;
  temperature: number;
}

/** The 'attention' request's answer: every head's pattern for the prompt, from the CPU forward. */
export interface TextAttention {
  step: number;
  characters: string[];
  /** patterns[layer][head], each [T, T] row-major. */
  patterns: Float64Array[][];
  /** Largest |CPU float64 logit − GPU logit| over the prompt's positions: how faithful the CPU forward is. */
  maxLogitDifference: number;
}

const CHUNK = 4;
const SAMPLE_SEED = 7;

/** The index drawn from softmax(logits / temperature) by the uniform number `u` in [0, 1). */
function drawFrom(logits: ArrayLike<number>, temperature: number, u: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  const weights = Float64Array.from(logits, (z) => Math.exp((z - max) / temperature));
  let at = u * weights.reduce((a, b) => a + b, 0);
  for (let i = 0; i < weights.length; i++) if ((at -= weights[i]) < 0) return i;
  return weights.length - 1;
}

/**
 * The Text page's job, in the worker: a character transformer trained with TextTrainer (AdamW,
 * β2 0.99, weight decay 0.1, gradient norm clipped to 1, as the CLI's recipe) on the text the page
 * sent, a chunk of steps at a time, with evaluations on fixed windows, generated samples, and the
 * attention pattern of a prompt (computed on the CPU from the weights; see text_attention.ts).
 */
export const textJob: JobFactory = async (engine, raw) => {
  const config = raw as TextJobConfig;
  const settings: TextSettings = { ...config.settings };
  const corpus = textCorpus(config.text, { context: config.model.context, source: config.source });
  const model = charTransformer({ vocab: corpus.vocab.length, ...config.model });
  const optimizer = new AdamW({ lr: config.lr, beta1: 0.9, beta2: 0.99, weightDecay: 0.1 });
  let lr = config.lr;
  const trainer = await TextTrainer.create(engine, { model, corpus, optimizer, batch: config.batch, seed: config.seed, clipNorm: 1, evalWindows: config.evalWindows });
  const predictor = new Predictor(engine, model, trainer.store, { inputShape: [config.model.context], inputDType: 'u32' });
  const { context, vocab } = model.config;
  let sampleCount = 0;

  function encodePrompt(prompt: string): number[] {
    if (prompt === '') throw new DatasetError('the prompt is empty: give at least one character');
    return Array.from(encodeText(prompt, corpus.vocab, 'the prompt'));
  }

  /** `tokens` characters after `prompt`, one GPU forward each (the last `context` ids, left-aligned). */
  async function sample(prompt: string, tokens: number, temperature: number, seed: number): Promise<TextSample> {
    const ids = encodePrompt(prompt);
    let state = (seed ^ 0x9e3779b9) >>> 0 || 0x9e3779b9;
    const uniform = () => {
      state ^= state << 13;
      state >>>= 0;
      state ^= state >>> 17;
      state ^= state << 5;
      state >>>= 0;
      return state / 2 ** 32;
    };
    const window = new Uint32Array(context);
    const out: number[] = [];
    for (let i = 0; i < tokens; i++) {
      const recent = ids.slice(-context);
      window.fill(0);
      window.set(recent);
      const logits = await predictor.predict(window);
      const next = drawFrom(logits.subarray((recent.length - 1) * vocab, recent.length * vocab), temperature, uniform());
      ids.push(next);
      out.push(next);
    }
    return { step: trainer.steps, prompt, text: decodeTokens(out, corpus.vocab), temperature };
  }

  async function weights(): Promise<Map<string, Float32Array>> {
    const w = new Map<string, Float32Array>();
    for (const p of trainer.store.stateDict) w.set(p.name, await trainer.store.read(p.name));
    return w;
  }

  async function attention(prompt: string): Promise<TextAttention> {
    const ids = encodePrompt(prompt).slice(-context);
    const cpu = cpuForward(await weights(), model.config, ids);
    const window = new Uint32Array(context);
    window.set(ids);
    const gpu = await predictor.predict(window);
    let maxLogitDifference = 0;
    for (let i = 0; i < ids.length * vocab; i++) maxLogitDifference = Math.max(maxLogitDifference, Math.abs(cpu.logits[i] - gpu[i]));
    return { step: trainer.steps, characters: ids.map((t) => corpus.vocab[t]), patterns: cpu.patterns, maxLogitDifference };
  }

  async function run(ctx: JobContext): Promise<void> {
    ctx.event('built', { parameters: trainer.store.count, vocab: [...corpus.vocab], characters: corpus.tokens.length, trainCharacters: corpus.trainTokens } satisfies TextBuilt);
    let lastEval = -Infinity;
    let lastSample = -Infinity;
    for (;;) {
      const limit = settings.maxSteps;
      if (limit > 0 && trainer.steps >= limit) ctx.pause(`Stopped after ${trainer.steps} steps; press Resume to go on.`);
      const wait = ctx.gate();
      if (wait) await wait;
      if (ctx.stopping) return;
      if (settings.maxSteps > 0 && trainer.steps >= settings.maxSteps) continue;
      if (trainer.steps - lastEval >= settings.evalEvery) {
        lastEval = trainer.steps;
        ctx.event('evaluation', { step: trainer.steps, ...(await trainer.evaluate()) } satisfies TextEvaluation);
      }
      if (trainer.steps - lastSample >= settings.sampleEvery) {
        lastSample = trainer.steps;
        ctx.event('sample', await sample(settings.prompt, settings.sampleTokens, settings.temperature, SAMPLE_SEED + sampleCount++));
        continue;
      }
      const n = settings.maxSteps > 0 ? Math.min(CHUNK, settings.maxSteps - trainer.steps) : CHUNK;
      const t0 = performance.now();
      for (let i = 0; i < n; i++) trainer.trainStep(lr);
      const loss = await trainer.lastLoss();
      const ms = performance.now() - t0;
      if (ctx.stopping) return;
      ctx.progress({ step: trainer.steps, loss, stepMs: ms / n, tokensPerSec: (n * config.batch * context) / (ms / 1000) } satisfies TextChunk);
      if (settings.maxSteps > 0 && trainer.steps >= settings.maxSteps) {
        ctx.event('evaluation', { step: trainer.steps, ...(await trainer.evaluate()) } satisfies TextEvaluation);
        ctx.event('sample', await sample(settings.prompt, settings.sampleTokens, settings.temperature, SAMPLE_SEED + sampleCount++));
        lastEval = lastSample = trainer.steps;
      }
    }
  }

  const job: TrainingJob = {
    run,
    setLearningRate: (v) => (lr = v),
    checkpoint: () => trainer.checkpoint(),
    load(bytes) {
      const { tensors, metadata } = decodeSafetensors(bytes, { source: 'the checkpoint', requireFinite: true });
      if (metadata.vocab !== undefined && metadata.vocab !== JSON.stringify(corpus.vocab)) {
        throw new CheckpointError('the checkpoint was trained on a text with another character set; train on the same text (or Reset with it) before loading');
      }
      checkCheckpoint(new Map(trainer.store.stateDict.map((p) => [p.name, p.shape])), tensors);
      for (const t of tensors.values()) trainer.store.write(t.name, t.data);
    },
    requests: {
      settings: (changes) => Object.assign(settings, changes),
      sample: (args) => {
        const a = args as { prompt: string; tokens: number; temperature: number; seed: number };
        return sample(a.prompt, a.tokens, a.temperature, a.seed);
      },
      attention: (prompt) => attention(prompt as string),
      evaluate: async () => ({ step: trainer.steps, ...(await trainer.evaluate()) }),
    },
    dispose: () => {
      predictor.dispose();
      trainer.dispose();
    },
  };
  return job;
};
