import { resolve } from 'node:path';
import { DatasetError } from '../data/idx.js';
import { textCorpus } from '../data/text.js';
import { createEngine, type Engine } from '../gpu/engine.js';
import { writeFilesAtomically } from '../io/atomic_write.js';
import { MAX_DATASET_FILE_BYTES } from '../io/limits.js';
import { readFileWithin } from '../io/read_bounded.js';
import { charTransformer } from '../models/transformer.js';
import { AdamW } from '../optim/optimizers.js';
import { transformerRecipeMetadata } from '../export/pytorch_transformer_recipe.js';
import { decodeSafetensors } from '../train/safetensors.js';
import { TextTrainer } from '../train/text_trainer.js';
import { readKernelConfigs } from '../gpu/tune_record.js';
import { checkOutputPaths, optimizerPath } from './main.js';
import { count, parseFlags, real, seedOf, UsageError } from './options.js';
import { progressReporter } from './progress.js';
import { checkpointDue, checkSameRun, dataFingerprint, readCheckpointPair, readResumePoint, ResumeError, resumeMetadata, type RunSettings } from './resume.js';
import { recordedConfigRefusal } from '../kernels/recorded_configs.js';

export const TRANSFORMER_USAGE = `usage: webgpu-dl train --model transformer --data FILE.txt [options]

Trains a character-level GPT (pre-LayerNorm, learned positions, fused causal attention) on a UTF-8
text: its characters are the vocabulary, the first 90% trains and the last 10% validates.
The recipe is nanoGPT's for characters: AdamW (beta2 0.99, weight decay 0.1 on every parameter),
gradients clipped to norm 1, 100 warm-up steps then cosine decay to --lr / 10.

options:
  --data FILE          the text (UTF-8), required
  --context N          characters per window (default 64)
  --layers N           transformer blocks (default 4)
  --heads N            attention heads (default 4)
  --dim N              width of the residual stream, a multiple of --heads (default 128)
  --dropout P          dropout in [0, 1) (default 0)
  --batch N            windows per step (default 12)
  --steps N            training steps (default 2000)
  --lr X               peak learning rate (default 0.001)
  --eval-every N       measure the loss on 200 fixed windows of each split every N steps
                       and at the end (default 250)
  --seed N             seed for initialisation and the training windows (default 1)
  --out FILE           save the weights as safetensors (PyTorch state_dict names; the model's
                       configuration and vocabulary in the metadata, for \`webgpu-dl sample\`)
                       and AdamW's state in FILE.optimizer.safetensors
  --checkpoint-every N also save both files every N steps (each time written to temporary files,
                       then renamed over the old ones), with what --resume needs
  --resume FILE        continue the run that saved FILE (and FILE.optimizer.safetensors) from its
                       step: the same windows, dropout masks and schedule as if it had never
                       stopped; the other flags and the data must be the same as that run's
  --json               one JSON object per evaluation and a final one on stdout
  -h, --help           show this help`;

const FLAGS = {
  model: { type: 'string' },
  data: { type: 'string' },
  context: { type: 'string' },
  layers: { type: 'string' },
  heads: { type: 'string' },
  dim: { type: 'string' },
  dropout: { type: 'string' },
  batch: { type: 'string' },
  steps: { type: 'string' },
  lr: { type: 'string' },
  'eval-every': { type: 'string' },
  seed: { type: 'string' },
  out: { type: 'string' },
  'checkpoint-every': { type: 'string' },
  resume: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** True when a `train` command line selects the transformer (`--model transformer` or `--model=transformer`). */
export function asksForTransformer(argv: readonly string[]): boolean {
  return argv.some((a, i) => a === '--model=transformer' || (a === '--model' && argv[i + 1] === 'transformer'));
}

/** `webgpu-dl train --model transformer`'s arguments, checked in full. */
export interface TransformerArgs {
  data: string;
  context: number;
  layers: number;
  heads: number;
  dim: number;
  dropout: number;
  batch: number;
  steps: number;
  lr: number;
  evalEvery: number;
  seed: number;
  out?: string;
  checkpointEvery?: number;
  resume?: string;
  json: boolean;
}

export function parseTransformerArgs(argv: readonly string[]): TransformerArgs | 'help' {
  const v = parseFlags(argv, FLAGS);
  if (v.help) return 'help';
  if (v.data === undefined || v.data.trim() === '') throw new UsageError('--model transformer needs --data FILE.txt, a UTF-8 text to train on');
  for (const flag of ['out', 'resume'] as const) {
    if (v[flag] !== undefined && v[flag].trim() === '') throw new UsageError(`--${flag} '${v[flag]}': expected a path`);
  }
  if (v['checkpoint-every'] !== undefined && v.out === undefined) throw new UsageError('--checkpoint-every needs --out FILE: the checkpoints are written there');
  const args = {
    data: v.data,
    context: count('context', v.context, 64),
    layers: count('layers', v.layers, 4),
    heads: count('heads', v.heads, 4),
    dim: count('dim', v.dim, 128),
    dropout: real('dropout', v.dropout, 0, (n) => n >= 0 && n < 1, 'a number in [0, 1)'),
    batch: count('batch', v.batch, 12),
    steps: count('steps', v.steps, 2000),
    lr: real('lr', v.lr, 1e-3, (n) => n > 0, 'a positive number'),
    evalEvery: count('eval-every', v['eval-every'], 250),
    seed: seedOf(v.seed),
    out: v.out,
    checkpointEvery: v['checkpoint-every'] === undefined ? undefined : count('checkpoint-every', v['checkpoint-every'], 1),
    resume: v.resume,
    json: !!v.json,
  };
  if (args.dim % args.heads !== 0) throw new UsageError(`--dim ${args.dim} must be a multiple of --heads ${args.heads} (each head takes dim / heads features)`);
  return args;
}

/** nanoGPT's schedule: linear warm-up over `warmup` steps, then cosine from `lr` to `min` at the last step. */
export function nanoGptLearningRate(step: number, o: { lr: number; min: number; warmup: number; steps: number }): number {
  if (step < o.warmup) return (o.lr * (step + 1)) / (o.warmup + 1);
  if (step > o.steps) return o.min;
  const ratio = (step - o.warmup) / Math.max(1, o.steps - o.warmup);
  return o.min + 0.5 * (1 + Math.cos(Math.PI * ratio)) * (o.lr - o.min);
}

export const WARMUP_STEPS = 100;
export const ADAMW = { beta1: 0.9, beta2: 0.99, weightDecay: 0.1 } as const;
export const CLIP_NORM = 1;

/** The recipe `export --format pytorch` resumes the run with (AdamW's eps is torch's default, which the engine's AdamW keeps). */
function recipeOf(args: TransformerArgs): Record<string, string> {
  const optimizer = { kind: 'adamw' as const, lr: args.lr, ...ADAMW, eps: 1e-8 };
  return transformerRecipeMetadata({ optimizer, warmup: WARMUP_STEPS, minLr: args.lr / 10, steps: args.steps, batch: args.batch, seed: args.seed, clipNorm: CLIP_NORM, data: resolve(args.data) });
}

export async function trainTransformer(argv: readonly string[]): Promise<void> {
  const args = parseTransformerArgs(argv);
  if (args === 'help') {
    console.log(TRANSFORMER_USAGE);
    return;
  }
  const started = performance.now();
  const say = (line: string) => (args.json ? console.error(line) : console.log(line));
  if (args.out) await checkOutputPaths([args.out, optimizerPath(args.out)]);
  const bytes = await readFileWithin(args.data, { limit: MAX_DATASET_FILE_BYTES, limitName: 'MAX_DATASET_FILE_BYTES', error: DatasetError, label: args.data });
  const corpus = textCorpus(bytes, { context: args.context, source: args.data });
  if (args.batch > corpus.trainTokens - args.context) {
    throw new UsageError(`--batch ${args.batch}: the training split holds only ${corpus.trainTokens - args.context} distinct windows of ${args.context + 1} characters`);
  }
  const settings = runSettings(args, dataFingerprint(bytes));
  const resumed = args.resume === undefined ? undefined : await readResume(args.resume, settings, args.steps);
  let engine: Engine | undefined;
  let trainer: TextTrainer | undefined;
  try {
    engine = await createEngine({ log: (m) => console.error(m) });
    // The saved run's kernel choices: another tile shape would round differently.
    if (resumed?.kernels) engine.tuner.adopt(resumed.kernels, recordedConfigRefusal);
    const model = charTransformer({ vocab: corpus.vocab.length, context: args.context, layers: args.layers, heads: args.heads, dim: args.dim, dropout: args.dropout });
    const optimizer = new AdamW({ lr: args.lr, beta1: ADAMW.beta1, beta2: ADAMW.beta2, weightDecay: ADAMW.weightDecay });
    trainer = await TextTrainer.create(engine, { model, corpus, optimizer, batch: args.batch, seed: args.seed, clipNorm: CLIP_NORM });
    if (resumed) trainer.resume(resumed.weights, resumed.optimizer, resumed.point, args.resume);
    const gpu = `${engine.info.description || engine.info.vendor || 'GPU'}${engine.info.software ? ' (software)' : ''}`;
    const params = trainer.store.list.reduce((a, p) => a + p.size, 0);
    say(`webgpu-dl: ${gpu}; ${corpus.tokens.length} characters (${corpus.trainTokens} train / ${corpus.tokens.length - corpus.trainTokens} validation), vocabulary of ${corpus.vocab.length}`);
    say(`webgpu-dl: ${model.describe()}, ${params} parameters; AdamW lr ${args.lr} (${WARMUP_STEPS} warm-up steps, cosine to ${args.lr / 10}), batch ${args.batch}, ${args.steps} steps`);
    if (resumed) say(`webgpu-dl: resumed from ${args.resume} at step ${resumed.point.steps}`);
    const save = async (trained: TextTrainer) => {
      const out = args.out!;
      const resume = resumeMetadata({ ...trained.progress, settings });
      await writeFilesAtomically([
        { path: out, data: await trained.checkpoint({ ...recipeOf(args), ...resume }) },
        { path: optimizerPath(out), data: await trained.optimizerCheckpoint() },
      ]);
    };
    const schedule = { lr: args.lr, min: args.lr / 10, warmup: WARMUP_STEPS, steps: args.steps };
    const bar = progressReporter(args.json);
    let last = { valLoss: NaN };
    let since = performance.now();
    let stepsSince = 0;
    for (let step = resumed?.point.steps ?? 0; step < args.steps; step++) {
      trainer.trainStep(nanoGptLearningRate(step, schedule));
      stepsSince++;
      const done = step + 1;
      if (done % 10 === 0) {
        // Waits for the GPU (no readback), so at most ten steps are queued and progress is real.
        await engine.device.queue.onSubmittedWorkDone();
        bar.update(`step ${done}/${args.steps}`, done / args.steps);
      }
      if (done % args.evalEvery === 0 || done === args.steps) {
        await trainer.lastLoss(); // waits for the steps, and throws if they diverged
        const tokensPerSec = (stepsSince * args.batch * args.context) / ((performance.now() - since) / 1000);
        const losses = await trainer.evaluate();
        last = losses;
        if (args.json) console.log(JSON.stringify({ event: 'eval', step: done, ...losses, tokensPerSec }));
        else bar.done(`step ${done}/${args.steps}  train loss ${losses.trainLoss.toFixed(4)}  val loss ${losses.valLoss.toFixed(4)}  ${Math.round(tokensPerSec)} tokens/s`);
        since = performance.now();
        stepsSince = 0;
      }
      // After the step's evaluation: a crash between the two repeats that event on resume instead of losing it.
      if (done !== args.steps && checkpointDue(done, args.checkpointEvery)) {
        const saving = performance.now();
        await save(trainer);
        since += performance.now() - saving; // tokens/s counts training, not writing
        say(`webgpu-dl: checkpoint at step ${done} saved to ${args.out}`);
      }
    }
    if (args.out) {
      const optimizerFile = optimizerPath(args.out);
      await save(trainer);
      say(`webgpu-dl: weights saved to ${args.out} (safetensors, with the configuration and vocabulary; \`webgpu-dl sample --weights ${args.out}\`), AdamW's state to ${optimizerFile}`);
    }
    const seconds = (performance.now() - started) / 1000;
    if (args.json) console.log(JSON.stringify({ event: 'done', valLoss: last.valLoss, seconds }));
    else console.log(`done: validation loss ${last.valLoss.toFixed(4)} in ${seconds.toFixed(1)} s`);
  } finally {
    trainer?.dispose();
    await engine?.close();
  }
}

/** What a resumed run must share with the run that saved its checkpoint: everything that decides the result. */
function runSettings(args: TransformerArgs, data: string): RunSettings {
  const { context, layers, heads, dim, dropout, batch, steps, lr, seed } = args;
  const flags = { context, layers, heads, dim, dropout, batch, steps, lr, seed };
  return { model: 'transformer', data, ...Object.fromEntries(Object.entries(flags).map(([k, v]) => [`--${k}`, String(v)])) };
}

/** Reads and checks a checkpoint to resume from, before any GPU work. */
async function readResume(path: string, settings: RunSettings, steps: number) {
  const { weights, optimizer } = await readCheckpointPair(path, optimizerPath(path));
  const { metadata } = decodeSafetensors(weights, { source: path });
  const point = readResumePoint(metadata, path);
  checkSameRun(path, point.settings, settings);
  if (point.steps >= steps) throw new ResumeError(`--resume ${path}: the checkpoint is at step ${point.steps} of ${steps}; that run is complete`);
  return { point, weights, optimizer, kernels: readKernelConfigs(metadata, path) };
}
