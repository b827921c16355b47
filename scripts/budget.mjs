#!/usr/bin/env node
// The size budget: no file in src/, shaders/ or demos/ may pass MAX_LINES lines (a file that long
// has more than one job; split it). Prints the core's size (src + shaders) and the number of op
// kinds in the graph's rule table, so growth shows in every CI log. Exit status 1 when over budget.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const MAX_LINES = 400;
// The repository root; a test may point the check at another tree.
const root = process.argv[2] ?? fileURLToPath(new URL('..', import.meta.url));
const checked = ['src', 'shaders', 'demos'];
const core = new Set(['src', 'shaders']);
// Generated or third-party content a reader never edits.
const skipped = new Set(['node_modules', 'dist', 'public']);
const TEXT = /\.(ts|mts|js|mjs|html|css|wgsl)$/;

function* files(dir) {
  for (const name of readdirSync(dir)) {
    if (skipped.has(name)) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else if (TEXT.test(name)) yield path;
  }
}

function lineCount(path) {
  const text = readFileSync(path, 'utf8');
  if (text.length === 0) return 0;
  return text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
}

/** The op kinds keyed in `RULES` (src/graph/ops/index.ts), one `kind: rule,` entry each. */
function opKinds() {
  const text = readFileSync(join(root, 'src/graph/ops/index.ts'), 'utf8');
  const table = /export const RULES\b[^{]*\{([\s\S]*?)\n\};/.exec(text);
  if (!table) throw new Error('budget: no `export const RULES = { … };` table in src/graph/ops/index.ts');
  return [...table[1].matchAll(/^\s*(\w+)\s*[:,]/gm)].map((m) => m[1]);
}

const over = [];
let coreLines = 0;
let coreFiles = 0;
for (const top of checked) {
  if (!existsSync(join(root, top))) {
    console.error(`budget: no ${top}/ folder under ${root}; run the check from the repository (or give its root)`);
    process.exit(2);
  }
  for (const path of files(join(root, top))) {
    const lines = lineCount(path);
    if (core.has(top)) {
      coreLines += lines;
      coreFiles += 1;
    }
    if (lines > MAX_LINES) over.push([relative(root, path), lines]);
  }
}

const ops = opKinds();
console.log(`budget: core (src + shaders) ${coreLines} lines in ${coreFiles} files; ${ops.length} op kinds in the rule table`);
if (over.length > 0) {
  for (const [path, lines] of over.sort((a, b) => b[1] - a[1])) console.error(`budget: ${path} has ${lines} lines, over ${MAX_LINES}; split it by job`);
  process.exit(1);
}
console.log(`budget: every file in ${checked.join(', ')} is within ${MAX_LINES} lines`);
