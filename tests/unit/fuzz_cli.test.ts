import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseTrainArgs, TRAIN_FLAGS } from '../../src/cli/args.js';
import { compressCommand } from '../../src/cli/compress.js';
import { UsageError } from '../../src/cli/options.js';
import { MAX_SEED } from '../../src/train/seed.js';
import { profileCommand } from '../../src/cli/profile.js';
import { DatasetError } from '../../src/data/idx.js';
import { CheckpointError } from '../../src/train/safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'fuzz-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
/** A folder that does not exist: a command that parsed its flags stops here, before any GPU work. */
const missing = join(dir, 'no-such-folder');
/** Not a safetensors file: compress stops at it once its flags parsed. */
const garbage = join(dir, 'garbage.safetensors');
writeFileSync(garbage, 'not safetensors');

beforeEach(() => {
  vi.spyOn(console, 'log').mockImplementation(() => {});
  vi.spyOn(console, 'error').mockImplementation(() => {});
});
afterEach(() => vi.restoreAllMocks());

/** Values a user or a script might pass: numbers of every kind as text, and odd strings. */
const value = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }).map(String),
  fc.double({ noNaN: false }).map(String),
  fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }).map(String),
  fc.constantFrom('', ' ', '-0', '0', '1', '2', '3', '0x10', '1e400', '-1e400', 'NaN', 'Infinity', '-Infinity', '4294967295', '4294967296', '1e-9', '--', '-', 'mlp', 'cnn', 'gan', 'cosine', 'constant', 'shift=2', 'global'),
  fc.string({ maxLength: 8 }),
);

/** argv lists of known flags (as --f v, --f=v, or bare), unknown flags, positionals and stray values. */
function argvOf(flags: readonly string[]): fc.Arbitrary<string[]> {
  const token = fc.oneof(
    { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...flags), value).map(([f, v]) => [`--${f}`, v]) },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...flags), value).map(([f, v]) => [`--${f}=${v}`]) },
    { weight: 2, arbitrary: fc.constantFrom(...flags).map((f) => [`--${f}`]) },
    { weight: 1, arbitrary: fc.constantFrom('--nope', '-x', '-h', '--help', '--', '-1', 'train', '--__proto__', '--constructor').map((t) => [t]) },
    { weight: 1, arbitrary: value.map((v) => [v]) },
  );
  return fc.array(token, { maxLength: 6 }).map((parts) => parts.flat());
}

const ok = (n: number | undefined, min: number, max = Number.MAX_SAFE_INTEGER) => n === undefined || (Number.isInteger(n) && n >= min && n <= max);

describe('CLI argument fuzzing', () => {
  it('train: any argv gives checked arguments or a UsageError', () => {
    fc.assert(
      fc.property(argvOf(Object.keys(TRAIN_FLAGS)), (argv) => {
        let parsed;
        try {
          parsed = parseTrainArgs(argv);
        } catch (e) {
          expect(e, argv.join(' ')).toBeInstanceOf(UsageError);
          expect((e as Error).message).not.toMatch(/\n/);
          return;
        }
        if (parsed === 'help') return;
        expect(ok(parsed.epochs, 1) && ok(parsed.batch, 1) && ok(parsed.limit, 1) && ok(parsed.seed, 0, MAX_SEED) && ok(parsed.classes, 2, 256)).toBe(true);
        expect(Number.isFinite(parsed.lr) && parsed.lr > 0).toBe(true);
        expect(['mlp', 'cnn', 'gan']).toContain(parsed.model);
        expect(['cosine', 'constant']).toContain(parsed.schedule);
      }),
      { numRuns: 1000 },
    );
  });

  it('a negative number after any numeric flag reaches that flag\'s own check', () => {
    for (const flag of ['epochs', 'batch', 'lr', 'seed', 'limit', 'classes']) {
      expect(() => parseTrainArgs([`--${flag}`, '-3'])).toThrow(new RegExp(`^--${flag} -3: expected `));
    }
  });

  it('profile: any argv gives a UsageError or gets past parsing to the data (never another error)', async () => {
    await fc.assert(
      fc.asyncProperty(argvOf(['model', 'batch', 'seed', 'json']), async (argv) => {
        const e = await profileCommand([...argv, '--data', missing]).then(
          () => undefined,
          (x: unknown) => x,
        );
        if (e === undefined || e instanceof UsageError) return;
        expect(e, argv.join(' ')).toBeInstanceOf(DatasetError);
        expect((e as Error).message).toMatch(/no-such-folder: no such folder/);
      }),
      { numRuns: 300 },
    );
  });

  it('compress: any argv gives a UsageError or gets past parsing to the weights file (never another error)', async () => {
    const flags = ['model', 'prune', 'scope', 'finetune', 'lr', 'batch', 'quantize', 'out', 'limit', 'seed', 'json'];
    await fc.assert(
      fc.asyncProperty(argvOf(flags), async (argv) => {
        const e = await compressCommand(['--weights', garbage, ...argv, '--data', missing]).then(
          () => undefined,
          (x: unknown) => x,
        );
        if (e === undefined || e instanceof UsageError) return;
        expect(e, argv.join(' ')).toBeInstanceOf(CheckpointError);
        expect((e as Error).message).toMatch(/garbage\.safetensors/);
      }),
      { numRuns: 300 },
    );
  });
});
