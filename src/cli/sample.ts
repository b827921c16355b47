import { encodeText, decodeTokens } from '../data/text.js';
import { createEngine, type Engine } from '../gpu/engine.js';
import { MAX_CHECKPOINT_FILE_BYTES } from '../io/limits.js';
import { readFileWithin } from '../io/read_bounded.js';
import type { Predictor } from '../train/predictor.js';
import { CheckpointError } from '../train/safetensors.js';
import { loadCharTransformer } from '../train/text_checkpoint.js';
import { count, parseFlags, real, seedOf, UsageError } from './options.js';

export const SAMPLE_USAGE = `usage: webgpu-dl sample --weights FILE [options]

Generates text with a character transformer saved by \`webgpu-dl train --model transformer --out\`
(the model and its vocabulary are rebuilt from the file).

options:
  --weights FILE       the checkpoint (safetensors), required
  --prompt TEXT        text to continue, in the model's characters (default: a newline)
  --tokens N           characters to generate (default 200)
  --temperature X      divides the logits before sampling; lower is more conservative (default 0.8)
  --seed N             seed of the sampling (default 1)
  -h, --help           show this help`;

const FLAGS = {
  weights: { type: 'string' },
  prompt: { type: 'string' },
  tokens: { type: 'string' },
  temperature: { type: 'string' },
  seed: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** `webgpu-dl sample`: prints the prompt and its continuation. */
export async function sampleCommand(argv: readonly string[]): Promise<void> {
  const v = parseFlags(argv, FLAGS);
  if (v.help) {
    console.log(SAMPLE_USAGE);
    return;
  }
  if (v.weights === undefined || v.weights.trim() === '') throw new UsageError('sample needs --weights FILE, a checkpoint of `webgpu-dl train --model transformer --out FILE`');
  const tokens = count('tokens', v.tokens, 200);
  const temperature = real('temperature', v.temperature, 0.8, (n) => n > 0, 'a positive number');
  const seed = seedOf(v.seed);
  const bytes = await readFileWithin(v.weights, { limit: MAX_CHECKPOINT_FILE_BYTES, limitName: 'MAX_CHECKPOINT_FILE_BYTES', error: CheckpointError, label: v.weights });
  let engine: Engine | undefined;
  let predictor: Predictor | undefined;
  try {
    engine = await createEngine({ log: (m) => console.error(m) });
    const loaded = loadCharTransformer(engine, bytes, v.weights);
    predictor = loaded.predictor;
    const prompt = v.prompt ?? (loaded.vocab.includes('\n') ? '\n' : loaded.vocab[0]);
    if (prompt === '') throw new UsageError('--prompt is empty; give at least one character (or leave --prompt out to start from a newline)');
    let ids: Uint32Array;
    try {
      ids = encodeText(prompt, loaded.vocab, '--prompt');
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const generated = await generate(predictor, Array.from(ids), { context: loaded.config.context, vocab: loaded.config.vocab, tokens, temperature, seed });
    console.log(`${prompt}${decodeTokens(generated, loaded.vocab)}`);
  } finally {
    predictor?.dispose();
    await engine?.close();
  }
}

/**
 * Samples `tokens` ids after `prompt` one at a time: the last `context` ids go in left-aligned
 * (padding after them cannot reach them through causal attention) and the next id is drawn from
 * softmax(logits / temperature) at the last real position.
 */
export async function generate(predictor: Predictor, prompt: number[], o: { context: number; vocab: number; tokens: number; temperature: number; seed: number }): Promise<number[]> {
  const ids = [...prompt];
  const out: number[] = [];
  let state = (o.seed ^ 0x9e3779b9) >>> 0 || 0x9e3779b9;
  const uniform = () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 2 ** 32;
  };
  const window = new Uint32Array(o.context);
  for (let i = 0; i < o.tokens; i++) {
    const recent = ids.slice(-o.context);
    window.fill(0);
    window.set(recent);
    const logits = await predictor.predict(window);
    const row = logits.subarray((recent.length - 1) * o.vocab, recent.length * o.vocab);
    const next = drawFrom(row, o.temperature, uniform());
    ids.push(next);
    out.push(next);
  }
  return out;
}

/** The index drawn from softmax(logits / temperature) by the uniform number `u` in [0, 1). */
export function drawFrom(logits: ArrayLike<number>, temperature: number, u: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  const weights = Float64Array.from(logits as ArrayLike<number>, (z) => Math.exp((z - max) / temperature));
  let total = 0;
  for (const w of weights) total += w;
  let at = u * total;
  for (let i = 0; i < weights.length; i++) {
    at -= weights[i];
    if (at < 0) return i;
  }
  return weights.length - 1;
}
