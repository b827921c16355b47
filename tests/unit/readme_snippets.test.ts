// Every TypeScript block in README.md and the guide is either an examples/ file shown verbatim
// (named by an `<!-- example: PATH -->` line right above it, and then built and run by
// scripts/examples.sh), or a complete program that type-checks here against the package's API, as
// a user would paste it.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, test } from 'vitest';

const repo = fileURLToPath(new URL('../..', import.meta.url));

/** The documents whose blocks are checked, from the repository root. */
const DOCUMENTS = ['README.md', 'docs/guide.md'];

interface Snippet {
  /** The markdown file, from the repository root. */
  doc: string;
  /** 1-based line of the opening fence. */
  line: number;
  code: string;
  /** The examples/ file the block shows, when marked. */
  example?: string;
}

/** The ```ts / ```typescript blocks of a markdown text, with the example each is marked as. */
export function typescriptBlocks(doc: string, markdown: string): Snippet[] {
  const lines = markdown.split('\n');
  const blocks: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(```+|~~~+)\s*(\w*)/.exec(lines[i]);
    if (!open) continue;
    const fence = open[2];
    let end = i + 1;
    while (end < lines.length && !lines[end].trimStart().startsWith(fence)) end++;
    if (['ts', 'typescript'].includes(open[3].toLowerCase())) {
      const marker = /^<!--\s*example:\s*(\S+)\s*-->\s*$/.exec(lines[i - 1] ?? '');
      blocks.push({ doc, line: i + 1, code: lines.slice(i + 1, end).join('\n') + '\n', example: marker?.[1] });
    }
    i = end;
  }
  return blocks;
}

const COMPILER_OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  lib: ['lib.es2022.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts'],
  types: ['@webgpu/types', 'node'],
  typeRoots: [join(repo, 'node_modules/@types'), join(repo, 'node_modules/@webgpu')],
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  isolatedModules: true,
  baseUrl: repo,
  // The package's entries, from their sources: what `import … from 'webgpu-dl'` resolves to once installed.
  paths: { 'webgpu-dl': ['src/index.ts'], 'webgpu-dl/worker': ['src/worker/index.ts'] },
};

/** Type-checks each snippet as its own module file; returns the diagnostics per `doc:line` of a block. */
export function typeCheck(snippets: readonly Snippet[]): Map<string, string[]> {
  const dir = join(repo, '.doc-snippets');
  const files = new Map(snippets.map((s) => [join(dir, `${s.doc.replace(/\W/g, '_')}-line-${s.line}.ts`), s]));
  const host = ts.createCompilerHost(COMPILER_OPTIONS);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (f) => files.has(resolve(f)) || fileExists.call(host, f);
  host.readFile = (f) => files.get(resolve(f))?.code ?? readFile.call(host, f);
  host.getSourceFile = (f, language, ...rest) => {
    const snippet = files.get(resolve(f));
    return snippet ? ts.createSourceFile(f, snippet.code, language) : getSourceFile.call(host, f, language, ...rest);
  };
  const program = ts.createProgram([...files.keys()], COMPILER_OPTIONS, host);
  const problems = new Map<string, string[]>();
  for (const [file, snippet] of files) {
    const source = program.getSourceFile(file);
    const diagnostics = [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)];
    if (diagnostics.length === 0) continue;
    problems.set(
      `${snippet.doc}:${snippet.line}`,
      diagnostics.map((d) => {
        const at = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : -1;
        return `${snippet.doc}:${snippet.line + 1 + at}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
      }),
    );
  }
  return problems;
}

const blocks = DOCUMENTS.flatMap((doc) => typescriptBlocks(doc, readFileSync(join(repo, doc), 'utf8')));

describe('TypeScript blocks of README.md and docs/guide.md', () => {
  test('finds the blocks, and README shows at least one examples/ file', () => {
    for (const doc of DOCUMENTS) expect(blocks.filter((b) => b.doc === doc).length, doc).toBeGreaterThan(1);
    expect(blocks.some((b) => b.doc === 'README.md' && b.example)).toBe(true);
  });

  test('a block marked as an example is that file, verbatim', () => {
    for (const { doc, line, example, code } of blocks.filter((b) => b.example)) {
      const path = join(repo, example as string);
      expect(existsSync(path), `${doc}:${line} names ${example}, which does not exist`).toBe(true);
      expect(code, `${doc}:${line} differs from ${example}`).toBe(readFileSync(path, 'utf8'));
    }
  });

  test('every other block is a complete program that type-checks against the package', () => {
    const problems = typeCheck(blocks.filter((b) => !b.example));
    expect([...problems.values()].flat()).toEqual([]);
  });

  test('the checker finds an undefined name and a wrong call in a block', () => {
    const problems = typeCheck([
      { doc: 'a.md', line: 1, code: "import { createEngine } from 'webgpu-dl';\nconst e = await createEngine();\nawait e.close();\n" },
      { doc: 'a.md', line: 2, code: "import { relu } from 'webgpu-dl';\nrelu(engine);\n" },
      { doc: 'a.md', line: 3, code: "import { createEngine } from 'webgpu-dl';\nawait createEngine(42);\n" },
    ]);
    expect([...problems.keys()]).toEqual(['a.md:2', 'a.md:3']);
    expect(problems.get('a.md:2')?.join('\n')).toMatch(/a\.md:4: Cannot find name 'engine'/);
  });
});
