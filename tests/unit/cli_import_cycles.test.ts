import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/*
 * The CLI's commands are imported by src/cli/main.ts; a command that imported main.ts back would
 * only work while its imports are used at call time (an ES module cycle leaves them undefined
 * during evaluation). The helpers they share live in modules of their own.
 */

const ROOT = resolve(import.meta.dirname, '..', '..');
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');

/** Every module of src/ that `file` reaches through static relative imports (itself excluded). */
function reachable(file: string): Set<string> {
  const seen = new Set<string>();
  const visit = (f: string) => {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/^(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/gms)) {
      const target = resolve(dirname(f), m[1].replace(/\.js$/, '.ts'));
      if (seen.has(target) || !target.startsWith(join(ROOT, 'src'))) continue;
      seen.add(target);
      visit(target);
    }
  };
  visit(file);
  return seen;
}

describe('CLI modules imported by main.ts', () => {
  for (const command of ['export.ts', 'export_pytorch.ts', 'resnet.ts']) {
    it(`src/cli/${command} does not import main.ts, directly or through another module`, () => {
      const modules = reachable(join(ROOT, 'src', 'cli', command));
      expect(modules.size).toBeGreaterThan(3); // the walk followed the imports
      expect([...modules].map((m) => relative(ROOT, m))).not.toContain(relative(ROOT, MAIN));
    });
  }
  it('main.ts itself is found by the walk when a module does import it (the check can fail)', () => {
    expect([...reachable(join(ROOT, 'tests', 'helpers', 'cli.ts'))]).toContain(MAIN);
  });
});
