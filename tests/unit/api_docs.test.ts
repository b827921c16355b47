// The API reference's checks (typedoc.json, run by `npm run docs` in CI) really fail a build: an
// undocumented export or a link to nothing is an error, and a documented module passes.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const project = JSON.parse(readFileSync(join(repo, 'typedoc.json'), 'utf8')) as Record<string, unknown>;

const dir = mkdtempSync(join(tmpdir(), 'webgpu-dl-docs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs TypeDoc with the project's rules (not its entry points) on one fixture module. */
function typedoc(source: string): { code: number; output: string } {
  writeFileSync(join(dir, 'entry.ts'), source);
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true, target: 'ES2022', module: 'ESNext', moduleResolution: 'Bundler', skipLibCheck: true, types: [] }, files: ['entry.ts'] }));
  const options = {
    entryPoints: [join(dir, 'entry.ts')],
    tsconfig: join(dir, 'tsconfig.json'),
    emit: 'none',
    name: 'fixture',
    disableSources: true,
    treatWarningsAsErrors: project.treatWarningsAsErrors,
    validation: project.validation,
    requiredToBeDocumented: project.requiredToBeDocumented,
  };
  writeFileSync(join(dir, 'typedoc.json'), JSON.stringify(options));
  const run = spawnSync(join(repo, 'node_modules/.bin/typedoc'), ['--options', join(dir, 'typedoc.json')], { cwd: dir, encoding: 'utf8' });
  return { code: run.status ?? 1, output: `${run.stdout}${run.stderr}` };
}

describe("typedoc.json's checks", () => {
  test('treat warnings as errors and validate exports, links and documentation', () => {
    expect(project.treatWarningsAsErrors).toBe(true);
    expect(project.validation).toMatchObject({ notExported: true, invalidLink: true, notDocumented: true });
    expect(project.requiredToBeDocumented).toEqual(expect.arrayContaining(['Class', 'Function', 'Interface', 'TypeAlias', 'Variable']));
  });

  test('a documented module passes', () => {
    const { code, output } = typedoc('/** The answer. */\nexport function answer(): number {\n  return 42;\n}\n');
    expect(code, output).toBe(0);
  });

  test('an export without a comment fails, naming it', () => {
    const { code, output } = typedoc('/** The answer. */\nexport function answer(): number {\n  return 42;\n}\nexport interface Bare {\n  x: number;\n}\n');
    expect(code).not.toBe(0);
    expect(output).toMatch(/Bare.*does not have any documentation/);
  });

  test('a link to nothing fails', () => {
    const { code, output } = typedoc('/** Like {@link Missing}. */\nexport const value = 1;\n');
    expect(code).not.toBe(0);
    expect(output).toMatch(/Missing/);
  });
});
