/** A bad command line; the CLI prints the message on one line and exits with status 2. */
export class UsageError extends Error {}

/** A flag's integer value, at least `min`; `fallback` when absent. */
export function count(name: string, value: string | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min) {
    throw new UsageError(`--${name} ${value}: expected ${min === 1 ? 'a positive' : 'a non-negative'} integer`);
  }
  return n;
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

/** node:util parseArgs errors as one-line usage errors. */
export function usageErrorOf(e: unknown): UsageError {
  return new UsageError(`${(e as Error).message.split('\n')[0]} (see --help)`);
}
