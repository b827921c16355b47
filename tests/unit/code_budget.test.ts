import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RULES } from '../../src/graph/ops/index.js';

// The core stays small enough to read: no file of the library, its shaders or the demos over
// MAX_LINES, and CI prints the core's size and op count so growth is seen as it happens.
const MAX_LINES = 400;
const root = join(import.meta.dirname, '..', '..');
const SOURCE = /\.(ts|mts|js|mjs|css|html)$/;

function sourceFiles(folder: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(folder)) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
    const path = join(folder, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (SOURCE.test(name)) out.push(path);
  }
  return out;
}

function lines(path: string): number {
  const text = readFileSync(path, 'utf8');
  return text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
}

describe('code budget', () => {
  it(`keeps every file of src/, shaders/ and demos/ at ${MAX_LINES} lines or fewer, and reports the core's size`, () => {
    const counted = ['src', 'shaders', 'demos'].flatMap((f) => sourceFiles(join(root, f)).map((p) => ({ path: relative(root, p), lines: lines(p) })));
    expect(counted.length).toBeGreaterThan(100);
    const over = counted.filter((f) => f.lines > MAX_LINES).map((f) => `${f.path}: ${f.lines} lines`);
    expect(over, `files over ${MAX_LINES} lines (split them by concern)`).toEqual([]);
    const core = counted.filter((f) => !f.path.startsWith('demos'));
    const total = core.reduce((a, f) => a + f.lines, 0);
    console.log(`code budget: core (src/ + shaders/) ${total} lines in ${core.length} files; ${Object.keys(RULES).length} op kinds; largest file ${Math.max(...counted.map((f) => f.lines))} lines (limit ${MAX_LINES})`);
  });
});
