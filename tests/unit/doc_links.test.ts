// Relative links in the project's markdown (README, docs/, the examples' READMEs) point at files that
// exist, and `#anchors` at headings that exist, as GitHub renders them.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const repo = fileURLToPath(new URL('../..', import.meta.url));

const markdownFiles = [
  'README.md',
  'SECURITY.md',
  ...readdirSync(join(repo, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`),
  ...readdirSync(join(repo, 'examples'))
    .map((d) => `examples/${d}/README.md`)
    .filter((f) => existsSync(join(repo, f))),
];

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function headingAnchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of a markdown text's headings, outside fenced code. */
function anchors(markdown: string): Set<string> {
  const found = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const heading = !fenced && /^#{1,6}\s+(.*)$/.exec(line);
    if (heading) found.add(headingAnchor(heading[1]));
  }
  return found;
}

/** The relative link targets of a markdown text (inline links and images), outside fenced code. */
function links(markdown: string): string[] {
  const found: string[] = [];
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    if (fenced) continue;
    for (const m of line.matchAll(/\]\(([^)\s]+)\)/g)) if (!/^[a-z][a-z0-9+.-]*:/i.test(m[1])) found.push(m[1]);
  }
  return found;
}

describe('links in the markdown files', () => {
  test('GitHub heading anchors', () => {
    expect(headingAnchor('A first program')).toBe('a-first-program');
    expect(headingAnchor('Guide: compiled steps, layers')).toBe('guide-compiled-steps-layers');
    expect(headingAnchor('Any graph: `compileStep`')).toBe('any-graph-compilestep');
  });

  test.each(markdownFiles)('%s: every relative link resolves', (file) => {
    const text = readFileSync(join(repo, file), 'utf8');
    const broken: string[] = [];
    for (const link of links(text)) {
      const [path, anchor] = link.split('#');
      const target = path ? join(dirname(join(repo, file)), decodeURIComponent(path)) : join(repo, file);
      if (!existsSync(target)) {
        broken.push(`${link}: no ${relative(repo, target)}`);
        continue;
      }
      if (anchor && target.endsWith('.md') && statSync(target).isFile() && !anchors(readFileSync(target, 'utf8')).has(anchor)) {
        broken.push(`${link}: no heading #${anchor} in ${relative(repo, target)}`);
      }
    }
    expect(broken).toEqual([]);
  });
});
