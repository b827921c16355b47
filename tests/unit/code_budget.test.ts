import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RULES } from '../../src/graph/ops/index.js';

// scripts/budget.mjs is the one definition of the budget (CI runs it before the tests, and
// `npm run budget`); these tests run it on this repository and on small trees written here.
const root = join(import.meta.dirname, '..', '..');
const script = join(root, 'scripts', 'budget.mjs');
const temps: string[] = [];

function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'budget-'));
  temps.push(dir);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

const rules = 'export const RULES: RuleTable = {\n  matmul: matmulRule,\n  sum: sumRule,\n  layer_norm,\n};\n';
const linesOf = (n: number) => 'x;\n'.repeat(n);

afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('code budget (scripts/budget.mjs)', () => {
  it('passes on this repository and prints the core size and the op count of the rule table', () => {
    const out = execFileSync(process.execPath, [script], { encoding: 'utf8' });
    console.log(out.trim());
    expect(out).toMatch(/core \(src \+ shaders\) \d+ lines in \d+ files/);
    expect(out).toContain(`${Object.keys(RULES).length} op kinds in the rule table`);
  });

  it('fails naming each file of src/, shaders/ or demos/ over 400 lines, and only those', () => {
    const dir = tree({
      'src/graph/ops/index.ts': rules,
      'src/big.ts': linesOf(401),
      'shaders/at_limit.ts': linesOf(400),
      'demos/page.html': linesOf(402),
      'tests/long.test.ts': linesOf(900),
    });
    const r = spawnSync(process.execPath, [script, dir], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('src/big.ts has 401 lines, over 400');
    expect(r.stderr).toContain('demos/page.html has 402 lines');
    expect(r.stderr).not.toContain('at_limit');
    expect(r.stderr).not.toContain('long.test');
    expect(r.stdout).toContain('core (src + shaders) 806 lines in 3 files; 3 op kinds in the rule table');
  });

  it('passes a tree whose files are all within the limit', () => {
    const dir = tree({ 'src/graph/ops/index.ts': rules, 'src/a.ts': linesOf(400), 'shaders/b.ts': linesOf(3), 'demos/c.css': linesOf(399) });
    const r = spawnSync(process.execPath, [script, dir], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
