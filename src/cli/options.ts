import { parseArgs, type ParseArgsConfig } from 'node:util';
import { MAX_SEED } from '../train/seed.js';

/** A bad command line; the CLI prints the message on one line and exits with status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

type FlagOptions = NonNullable<ParseArgsConfig['options']>;
type FlagValues<O extends FlagOptions> = ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: false }>>['values'];

/**
 * Parses `argv` against `options` (no positionals), as node:util parseArgs does, with three
 * differences that keep the user's real problem in the message:
 * - a negative number after a value flag (`--epochs -1`) is taken as its value, so the flag's own
 *   check can say what it expects, instead of parseArgs' "argument is ambiguous";
 * - a flag given twice is refused (parseArgs keeps the last one silently);
 * - every parse error is a UsageError.
 */
export function parseFlags<O extends FlagOptions>(argv: readonly string[], options: O): FlagValues<O> {
  const args = joinNegativeValues(argv, options);
  let parsed;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: false, tokens: true });
  } catch (e) {
    throw usageErrorOf(e);
  }
  const seen = new Map<string, string>();
  for (const t of parsed.tokens) {
    if (t.kind !== 'option') continue;
    const shown = t.value === undefined ? t.rawName : `${t.rawName} ${t.value}`;
    const first = seen.get(t.name);
    if (first !== undefined) throw new UsageError(`--${t.name} is given twice (${first}, then ${shown}); give it once`);
    seen.set(t.name, shown);
  }
  return parsed.values as FlagValues<O>;
}

const NEGATIVE_NUMBER = /^-(\d|\.\d|Infinity$)/;

/** `--flag -1` → `--flag=-1` for value flags, which parseArgs then reads as the value. */
function joinNegativeValues(argv: readonly string[], options: FlagOptions): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const name = flag.startsWith('--') ? flag.slice(2) : undefined;
    const next = argv[i + 1];
    if (name && Object.hasOwn(options, name) && options[name].type === 'string' && next !== undefined && NEGATIVE_NUMBER.test(next)) {
      out.push(`${flag}=${next}`);
      i++;
    } else {
      out.push(flag);
    }
  }
  return out;
}


/** A flag's integer value in [min, max]; `fallback` when absent. */
export function count(name: string, value: string | undefined, fallback: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    const bounded = max !== Number.MAX_SAFE_INTEGER || n > max;
    const what = bounded ? `an integer in [${min}, ${max}]` : min === 1 ? 'a positive integer' : min === 0 ? 'a non-negative integer' : `an integer of at least ${min}`;
    throw new UsageError(`--${name} ${value}: expected ${what}`);
  }
  return n;
}

/** `--seed`: an integer in [0, MAX_SEED]. */
export function seedOf(value: string | undefined, fallback = 1): number {
  return count('seed', value, fallback, 0, MAX_SEED);
}

/** A flag's number value accepted by `check`; `fallback` when absent. */
export function real(name: string, value: string | undefined, fallback: number, check: (n: number) => boolean, what: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || !check(n)) throw new UsageError(`--${name} ${value}: expected ${what}`);
  return n;
}

/** `--model`, one of `allowed` (the first is the default). */
export function modelOf<M extends string>(value: string | undefined, allowed: readonly M[]): M {
  const model = value ?? allowed[0];
  if (!(allowed as readonly string[]).includes(model)) {
    throw new UsageError(`--model ${model}: expected ${allowed.slice(0, -1).join(', ')} or ${allowed[allowed.length - 1]}`);
  }
  return model as M;
}

/** node:util parseArgs errors (some span lines, each useful) as one-line usage errors; a UsageError passes through. */
export function usageErrorOf(e: unknown): UsageError {
  if (e instanceof UsageError) return e;
  return new UsageError(`${(e as Error).message.split('\n').join(' ')} (see --help)`);
}
