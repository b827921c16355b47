import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

// src/gpu is the bottom layer: it may use itself, src/io (leaf file utilities) and packages, never
// the kernels, graph or anything above, and its files form no circle of imports (a circle means
// a piece cannot be read, tested or replaced alone). Type-only imports count: they couple files too.
const root = join(import.meta.dirname, '..', '..');
const LAYER = ['src/gpu', 'src/io'];

/** Every module `text` names: static and type imports, re-exports, dynamic and side-effect imports. */
function importedModules(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const found: string[] = [];
  for (const re of [/\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g, /^\s*import\s*['"]([^'"]+)['"]/gm]) {
    for (const m of code.matchAll(re)) found.push(m[1]);
  }
  return found;
}

/** The repository-relative .ts file a relative specifier of `from` names ('./x.js' → 'src/gpu/x.ts'). */
function resolveLocal(from: string, specifier: string): string {
  return relative(root, resolve(dirname(join(root, from)), specifier)).replace(/\.js$/, '.ts');
}

/** Imports of every .ts file in `folders`, as repository-relative paths (packages left out). */
function localImports(folders: readonly string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const folder of folders) {
    for (const name of readdirSync(join(root, folder))) {
      if (!name.endsWith('.ts')) continue;
      const file = `${folder}/${name}`;
      const specifiers = importedModules(readFileSync(join(root, file), 'utf8')).filter((s) => s.startsWith('.'));
      graph.set(file, specifiers.map((s) => resolveLocal(file, s)));
    }
  }
  return graph;
}

/** One import circle of `graph`, as the files around it, or undefined when there is none. */
function findCycle(graph: ReadonlyMap<string, readonly string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (file: string): string[] | undefined => {
    if (state.get(file) === 'done') return undefined;
    if (state.get(file) === 'open') return [...path.slice(path.indexOf(file)), file];
    state.set(file, 'open');
    path.push(file);
    for (const next of graph.get(file) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(file, 'done');
    return undefined;
  };
  for (const file of graph.keys()) {
    const cycle = visit(file);
    if (cycle) return cycle;
  }
  return undefined;
}

describe('the GPU layer', () => {
  const graph = localImports(LAYER);

  it('reads every kind of import statement', () => {
    const text = [
      "import type { A } from '../kernels/kernel.js';",
      "import {\n  b,\n  c,\n} from './b.js';",
      "export { d } from './d.js';",
      "const e = await import('../io/e.js');",
      "import './f.js';",
      "// import { g } from '../graph/g.js';",
    ].join('\n');
    expect(importedModules(text)).toEqual(['../kernels/kernel.js', './b.js', './d.js', '../io/e.js', './f.js']);
  });

  it('finds an import circle, and none in a tree', () => {
    expect(findCycle(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']]]))).toEqual(['a', 'b', 'c', 'a']);
    expect(findCycle(new Map([['a', ['b', 'c']], ['b', ['c']], ['c', []]]))).toBeUndefined();
  });

  it('src/gpu and src/io import nothing from the layers above them', () => {
    expect(graph.size).toBeGreaterThan(8);
    const upward = [...graph].flatMap(([file, targets]) =>
      targets.filter((t) => !LAYER.some((folder) => t.startsWith(`${folder}/`))).map((t) => `${file} imports ${t}`),
    );
    expect(upward).toEqual([]);
  });

  it('src/gpu and src/io have no import circle', () => {
    expect(findCycle(graph)).toBeUndefined();
  });
});
