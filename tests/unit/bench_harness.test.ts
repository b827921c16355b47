import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkOutputFile, runWorkloads, writeJsonAtomically } from '../../bench/lib/harness.mjs';
import { formatTable } from '../../bench/lib/table.mjs';

const dir = mkdtempSync(join(tmpdir(), 'bench-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const workloads = ['W1', 'W2', 'W3', 'W4'].map((id) => ({ id }));
const result = (id: string) => ({ id, unit: 'steps/s', ours: 2, tfjs: 1, ratio: 2, oursMedianMs: 1, tfjsMedianMs: 2, runs: 5 });

describe('benchmark harness', () => {
  it('keeps every finished workload when a later one exceeds its timeout, and names it', async () => {
    const started: string[] = [];
    const run = await runWorkloads(
      workloads,
      (w) => {
        started.push(w.id);
        return w.id === 'W3' ? new Promise<ReturnType<typeof result>>(() => {}) : Promise.resolve(result(w.id));
      },
      { timeoutMs: 50 },
    );
    expect(run.results.map((r) => r.id)).toEqual(['W1', 'W2']);
    expect(run.failed).toEqual({ id: 'W3', error: 'workload W3 took longer than 0.05 s (raise --timeout)' });
    expect(run.notRun).toEqual(['W4']);
    expect(started).toEqual(['W1', 'W2', 'W3']);
    const table = formatTable({ adapter: { vendor: 'v', architecture: 'a', tfjsVersion: '4' }, date: 'today', workloads: run.results, ...run });
    expect(table).toMatch(/^W1 .*\nW2 /m);
    expect(table).toMatch(/not finished: W3 \(workload W3 took longer than 0\.05 s \(raise --timeout\)\); not run: W4/);
  });

  it('reports a workload that fails the same way, and a clean run with no failure', async () => {
    const failing = await runWorkloads(workloads, (w) => (w.id === 'W2' ? Promise.reject(new Error('page crashed\nstack')) : Promise.resolve(result(w.id))), { timeoutMs: 1000 });
    expect([failing.results.length, failing.failed, failing.notRun]).toEqual([1, { id: 'W2', error: 'page crashed' }, ['W3', 'W4']]);
    const clean = await runWorkloads(workloads, (w) => Promise.resolve(result(w.id)), { timeoutMs: 1000 });
    expect([clean.results.length, clean.failed]).toEqual([4, undefined]);
  });

  it('writes its JSON through a temporary file renamed over the target', async () => {
    const path = join(dir, 'results.json');
    writeFileSync(path, '{"old":true}');
    await writeJsonAtomically(path, { workloads: [1, 2] });
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ workloads: [1, 2] });
    expect(readdirSync(dir)).toEqual(['results.json']);
    await expect(checkOutputFile(join(dir, 'missing', 'r.json'))).rejects.toThrow(/--out .*r\.json: the folder .*missing does not exist or is not writable/);
    await expect(checkOutputFile(dir)).rejects.toThrow(/exists and is not a regular file/);
    await expect(checkOutputFile(path)).resolves.toBeUndefined();
  });
});
