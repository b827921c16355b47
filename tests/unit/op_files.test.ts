import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RULES } from '../../src/graph/ops/index.js';
import type { OpKind } from '../../src/graph/ops/kinds.js';

// Where each op lives: one op file (attribute types, shape inference, gradient rule, lowering),
// one float64 reference, tests that apply it; kernels and WGSL under its stem. Central tables hold
// registrations only. Read from the source files themselves, so a moved op shows up here.
const root = join(import.meta.dirname, '..', '..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const list = (dir: string, suffix: string) =>
  readdirSync(join(root, dir))
    .filter((f) => f.endsWith(suffix))
    .map((f) => `${dir}/${f}`);

/** The op files that declare `kind` in one of their `export interface …Ops { … }` maps. */
function declaringFiles(kind: string): string[] {
  return list('src/graph/ops', '.ts').filter((path) =>
    [...read(path).matchAll(/export interface \w+Ops \{([\s\S]*?)\n\}/g)].some((m) => new RegExp(`^  ${kind}: `, 'm').test(m[1])),
  );
}

const kinds = Object.keys(RULES) as OpKind[];
const referenceFiles = list('tests/reference', '.ts');
const testFiles = list('tests/unit', '.test.ts');

describe('each op in its own files', () => {
  it('every kind is declared by exactly one op file and has exactly one float64 reference file', () => {
    for (const kind of kinds) {
      expect(declaringFiles(kind), kind).toHaveLength(1);
      expect(referenceFiles.filter((path) => read(path).includes(`RefOp<'${kind}'>`)), kind).toHaveLength(1);
    }
  });

  it('every differentiable kind is applied by some unit test', () => {
    const untested = kinds.filter((k) => RULES[k].grad !== 'nondiff' && !testFiles.some((path) => read(path).includes(`'${k}'`)));
    expect(untested).toEqual([]);
  });

  it('layer_norm: five files of its own, and one line per central table entry', () => {
    const own = ['shaders/layer_norm.ts', 'src/kernels/layer_norm.ts', 'src/graph/ops/layer_norm.ts', 'tests/reference/layer_norm.ts', 'tests/unit/layer_norm.test.ts'];
    for (const path of own) expect(existsSync(join(root, path)), path).toBe(true);
    expect(declaringFiles('layer_norm')).toEqual(['src/graph/ops/layer_norm.ts']);
    expect(declaringFiles('layer_norm_backward')).toEqual(['src/graph/ops/layer_norm.ts']);
    // The registrations: an import and table lines naming the op, nothing more.
    const mentions = (path: string) => read(path).split('\n').filter((l) => /layer_?norm/i.test(l));
    const registrations = { 'src/graph/ops/kinds.ts': mentions('src/graph/ops/kinds.ts'), 'src/graph/ops/index.ts': mentions('src/graph/ops/index.ts'), 'tests/reference/graph.ts': mentions('tests/reference/graph.ts') };
    for (const [path, lines] of Object.entries(registrations)) {
      expect(lines.length, path).toBeLessThanOrEqual(3);
      for (const line of lines) expect(line.trim(), path).toMatch(/^(import type \{[^}]*\} from '[^']+';|import \{[^}]*\} from '[^']+';|\w+: \w+,|\w+,)$/);
    }
    console.log(`layer_norm: ${own.length} files of its own; registrations: ${Object.entries(registrations).map(([p, l]) => `${p} ${l.length} lines`).join(', ')}`);
  });
});
