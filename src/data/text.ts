import { DatasetError } from './idx.js';

/** Windows a language model's validation loss is measured on, at least; evenly spaced over the split. */
export const VALIDATION_WINDOWS = 200;

/** A text as a character model sees it: its vocabulary, its tokens, and where validation begins. */
export interface TextCorpus {
  /** The distinct characters (Unicode code points), sorted by code point; token i is vocab[i]. */
  readonly vocab: readonly string[];
  /** Every character of the text as its index in `vocab`. */
  readonly tokens: Uint32Array;
  /** Tokens [0, trainTokens) train; [trainTokens, tokens.length) validate (the last 10%). */
  readonly trainTokens: number;
  /** Tokens per window the corpus was checked for. */
  readonly context: number;
}

/** Options of `textCorpus`. */
export interface TextCorpusOptions {
  /** Tokens per window: each split must hold at least context + 1 of them. */
  context: number;
  /** Names the text in errors (a file path); default 'text'. */
  source?: string;
  /** A vocabulary to encode with (a checkpoint's); default: the text's own characters. */
  vocab?: readonly string[];
}

/**
 * Decodes UTF-8 bytes (refusing anything else) and splits them as nanoGPT's character recipe does:
 * the vocabulary is the sorted set of code points, the first 90% of the characters train and the
 * last 10% validate. A DatasetError names the text and the fix when it is empty, not UTF-8, or too
 * short for a window of `context` + 1 characters in each split.
 */
export function textCorpus(bytes: Uint8Array, options: TextCorpusOptions): TextCorpus {
  const source = options.source ?? 'text';
  const { context } = options;
  if (!Number.isInteger(context) || context < 1) throw new DatasetError(`${source}: context ${context} must be a positive integer`);
  if (bytes.length === 0) throw new DatasetError(`${source}: the text is empty; give a UTF-8 text file of at least ${minimumLength(context)} characters`);
  const text = decodeUtf8(bytes, source);
  const chars = Array.from(text);
  const vocab = options.vocab ?? [...new Set(chars)].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
  const tokens = encodeText(chars, vocab, source);
  const trainTokens = Math.floor(tokens.length * 0.9);
  const validation = tokens.length - trainTokens;
  if (trainTokens < context + 1 || validation < context + 1) {
    throw new DatasetError(
      `${source}: the text has ${tokens.length} characters, so its 10% validation split holds ${validation}; a window needs context + 1 = ${context + 1} ` +
        `in each split: give a text of at least ${minimumLength(context)} characters, or a smaller context`,
    );
  }
  return { vocab, tokens, trainTokens, context };
}

/** The shortest text whose 90/10 splits each hold a window of `context` + 1 characters. */
function minimumLength(context: number): number {
  let n = 2 * (context + 1);
  while (Math.floor(n * 0.9) < context + 1 || n - Math.floor(n * 0.9) < context + 1) n++;
  return n;
}

function decodeUtf8(bytes: Uint8Array, source: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new DatasetError(`${source}: the file is not UTF-8 text (invalid by byte offset ${firstInvalidUtf8(bytes)}); convert it to UTF-8 (e.g. iconv -t UTF-8) first`);
  }
}

/** The offset of the last byte of the shortest prefix that is not UTF-8, for the error message. */
function firstInvalidUtf8(bytes: Uint8Array): number {
  // A streamed prefix fails once it holds a whole invalid sequence, and so do all longer ones:
  // binary search for the shortest, O(n log n) rather than a decode per byte.
  const fails = (n: number) => {
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, n), { stream: true });
      return false;
    } catch {
      return true;
    }
  };
  let lo = 1;
  let hi = bytes.length;
  if (!fails(hi)) return bytes.length - 1; // a sequence cut short at the end
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (fails(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo - 1;
}

/** Characters (code points) as token ids of `vocab`; a character outside it is a DatasetError. */
export function encodeText(text: string | readonly string[], vocab: readonly string[], source = 'text'): Uint32Array {
  const index = new Map(vocab.map((c, i) => [c, i]));
  const chars = typeof text === 'string' ? Array.from(text) : text;
  const tokens = new Uint32Array(chars.length);
  for (let i = 0; i < chars.length; i++) {
    const id = index.get(chars[i]);
    if (id === undefined) {
      const cp = chars[i].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
      throw new DatasetError(`${source}: character ${JSON.stringify(chars[i])} (U+${cp}) at position ${i} is not in the model's vocabulary of ${vocab.length} characters; use only characters of the text it was trained on`);
    }
    tokens[i] = id;
  }
  return tokens;
}

/** Token ids back to text. */
export function decodeTokens(tokens: ArrayLike<number>, vocab: readonly string[]): string {
  let out = '';
  for (let i = 0; i < tokens.length; i++) out += vocab[tokens[i]] ?? '';
  return out;
}

/**
 * `count` window starts spread evenly over [first, end − context − 1] (each window reads
 * context + 1 tokens below `end`): the fixed, deterministic windows a loss is measured on.
 */
export function evenlySpacedStarts(first: number, end: number, context: number, count: number): Uint32Array {
  const last = end - context - 1;
  if (last < first) throw new DatasetError(`evenlySpacedStarts: [${first}, ${end}) holds no window of ${context + 1} tokens`);
  const starts = new Uint32Array(count);
  for (let i = 0; i < count; i++) starts[i] = count === 1 ? first : first + Math.floor((i * (last - first)) / (count - 1));
  return starts;
}

/**
 * A seeded xorshift32 stream of window starts in [0, trainTokens − context − 1], the same numbers
 * scripts/train_pytorch.py draws, so both train on the very same batches.
 */
export class WindowSampler {
  private state: number;

  constructor(
    readonly range: number,
    seed: number,
  ) {
    // xorshift32 stays at 0 from 0: mix the seed with an odd constant so every seed is a valid state.
    this.state = (seed ^ 0x9e3779b9) >>> 0 || 0x9e3779b9;
  }

  /** Fills `into` with the next starts. */
  next(into: Uint32Array): Uint32Array {
    for (let i = 0; i < into.length; i++) {
      let x = this.state;
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      this.state = x >>> 0;
      into[i] = this.state % this.range;
    }
    return into;
  }
}

/** The entropy, in nats per character, of the text's own character frequencies: the loss of the best model that ignores context. */
export function unigramEntropy(tokens: ArrayLike<number>, vocab: number): number {
  const counts = new Float64Array(vocab);
  for (let i = 0; i < tokens.length; i++) counts[tokens[i]]++;
  let h = 0;
  for (const c of counts) if (c > 0) h -= (c / tokens.length) * Math.log(c / tokens.length);
  return h;
}
