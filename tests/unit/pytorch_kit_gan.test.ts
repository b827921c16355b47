import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ganCheckpointPaths } from '../../src/cli/gan_checkpoint.js';
import { encodeIdx } from '../../src/data/idx.js';
import { IDX_FILES } from '../../src/data/idx_files.js';
import { decodeSafetensors } from '../../src/train/safetensors.js';
import { runCli } from '../helpers/cli.js';
import { PYTHON, SCRIPTS, torchStatus } from '../helpers/parity.js';
import { rng } from '../helpers/random.js';

/*
 * `train --model gan --out FILE` writes the whole run beside the generator: the discriminator and
 * both networks' Adam state, named as the torch.nn equivalents of scripts/torch_models.py name
 * their parameters, each paired with its weights (run id, step), and loadable by PyTorch.
 */

const torch = torchStatus();
const inCi = process.env.CI === 'true';
const dir = mkdtempSync(join(tmpdir(), 'gan-run-'));
const out = join(dir, 'g.safetensors');
const paths = ganCheckpointPaths(out);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const read = (path: string) => decodeSafetensors(new Uint8Array(readFileSync(path)));
const moments = (names: string[]) => names.flatMap((n) => [`${n}.exp_avg`, `${n}.exp_avg_sq`]).sort();

beforeAll(async () => {
  const data = join(dir, 'idx');
  mkdirSync(data);
  const next = rng(23);
  for (const [images, labels, count] of [[IDX_FILES.trainImages, IDX_FILES.trainLabels, 32], [IDX_FILES.testImages, IDX_FILES.testLabels, 8]] as const) {
    writeFileSync(join(data, images), encodeIdx([count, 28, 28], Uint8Array.from({ length: count * 784 }, () => Math.floor(next() * 256))));
    writeFileSync(join(data, labels), encodeIdx([count], Uint8Array.from({ length: count }, (_, i) => i % 10)));
  }
  const r = await runCli(['train', '--model', 'gan', '--data', data, '--epochs', '1', '--batch', '16', '--out', out]);
  expect(r.status, r.err.join('\n')).toBe(0);
  expect(r.out.join('\n')).toContain(`the discriminator's to ${paths.discriminator}`);
}, 120_000);

describe('train --model gan --out', () => {
  it('writes the discriminator and both optimizers\' state, named as the torch modules name them and paired with their weights', () => {
    const g = read(out);
    const d = read(paths.discriminator);
    const gState = read(paths.generatorOptimizer);
    const dState = read(paths.discriminatorOptimizer);
    const linears = (n: number) => Array.from({ length: n }, (_, i) => [`${2 * i}.weight`, `${2 * i}.bias`]).flat();
    expect([...d.tensors.keys()].sort()).toEqual(linears(3).sort());
    expect(d.tensors.get('0.weight')!.shape).toEqual([512, 784]);
    expect([...gState.tensors.keys()].sort()).toEqual(moments([...g.tensors.keys()]));
    expect([...dState.tensors.keys()].sort()).toEqual(moments([...d.tensors.keys()]));
    expect(d.metadata).toMatchObject({ model: 'discriminator', step: '2' });
    for (const [weights, state, model] of [[g, gState, 'generator'], [d, dState, 'discriminator']] as const) {
      expect(state.metadata).toMatchObject({ content: 'optimizer', optimizer: 'adam', model, step: '2', run_id: weights.metadata.run_id });
    }
    expect(g.metadata.run_id).not.toBe(d.metadata.run_id);
  });

  it.skipIf(!torch.ok && !inCi)('loads into torch_models.py\'s generator and discriminator and their torch.optim.Adam (strict)', () => {
    if (!torch.ok) throw new Error(`${torch.reason}; CI needs Debian's python3-torch`);
    const program = `
import json, sys, torch
sys.path.insert(0, ${JSON.stringify(SCRIPTS)})
from check_pytorch import load_safetensors
from torch_models import gan_discriminator, gan_generator
result = {}
for name, model, weights, state in (("G", gan_generator(), ${JSON.stringify(out)}, ${JSON.stringify(paths.generatorOptimizer)}), ("D", gan_discriminator(), ${JSON.stringify(paths.discriminator)}, ${JSON.stringify(paths.discriminatorOptimizer)})):
    model.load_state_dict(load_safetensors(weights), strict=True)
    moments, meta = load_safetensors(state, with_metadata=True)
    optimizer = torch.optim.Adam(model.parameters(), betas=(0.5, 0.999))
    saved = optimizer.state_dict()
    for i, (n, p) in enumerate(model.named_parameters()):
        saved["state"][i] = {"step": torch.tensor(float(meta["step"])), "exp_avg": moments.pop(n + ".exp_avg"), "exp_avg_sq": moments.pop(n + ".exp_avg_sq")}
    optimizer.load_state_dict(saved)
    result[name] = {"left": sorted(moments), "step": int(optimizer.state_dict()["state"][0]["step"])}
print(json.dumps(result))`;
    const result = JSON.parse(execFileSync(PYTHON, ['-c', program], { encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } }).trim().split('\n').pop()!);
    expect(result).toEqual({ G: { left: [], step: 2 }, D: { left: [], step: 2 } });
  });

  it.skipIf(!torch.ok && !inCi)('export --format pytorch resumes both networks at step 3; torchrun with 2 processes (gloo) steps as one process', async () => {
    const kit = join(dir, 'kit');
    const r = await runCli(['export', '--weights', out, '--format', 'pytorch', '--out', kit]);
    expect(r.status, r.err.join('\n')).toBe(0);
    expect(JSON.parse(readFileSync(join(kit, 'kit.json'), 'utf8'))).toMatchObject({ model: 'gan', step: 2, config: { latent: 100, height: 28, width: 28 }, recipe: { optimizer: { beta1: 0.5 }, schedule: 'constant', batch: 16 } });
    const run = (save: string, processes: number) => {
      const args = [join(kit, 'train.py'), '--data', join(dir, 'idx'), '--epochs', '2', '--steps', '1', '--batch-indices', '3,30,8,21,14,0,27,11,5,19,24,9,16,31,2,12', '--save', save];
      const launcher = ['-m', 'torch.distributed.run', '--standalone', '--nnodes', '1', '--nproc_per_node', String(processes), '--redirects', '2', '--tee', '2'];
      const stdout = execFileSync(PYTHON, processes === 1 ? args : [...launcher, ...args], { cwd: kit, encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', OMP_NUM_THREADS: '1' }, timeout: 120_000 });
      return stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { event: string; step: number; dLoss: number; gLoss: number });
    };
    const one = run(join(dir, 'one.safetensors'), 1).filter((l) => l.event === 'step');
    const two = run(join(dir, 'two.safetensors'), 2).filter((l) => l.event === 'step');
    expect([one.map((l) => l.step), two.map((l) => l.step)]).toEqual([[3], [3]]);
    expect(Math.abs(two[0].dLoss - one[0].dLoss) / one[0].dLoss).toBeLessThanOrEqual(1e-5);
    expect(Math.abs(two[0].gLoss - one[0].gLoss) / one[0].gLoss).toBeLessThanOrEqual(1e-5);
    for (const [mine, before] of [['', out], ['.discriminator', paths.discriminator]] as const) {
      const flat = (path: string) => {
        const { tensors } = read(path);
        return Float64Array.from([...tensors.keys()].sort().flatMap((n) => Array.from(tensors.get(n)!.data)));
      };
      const start = flat(before);
      const [a, b] = [flat(join(dir, `two${mine}.safetensors`)), flat(join(dir, `one${mine}.safetensors`))].map((w) => w.map((v, i) => v - start[i]));
      const norm = (v: Float64Array) => Math.sqrt(v.reduce((sum, x) => sum + x * x, 0));
      const error = norm(a.map((v, i) => v - b[i])) / norm(b);
      console.log(`pytorch kit gan${mine || '.generator'}: torchrun 2 processes vs 1, change ${norm(b).toExponential(3)}, rel error ${error.toExponential(2)}`);
      expect(norm(b)).toBeGreaterThan(1e-4);
      expect(error).toBeLessThanOrEqual(1e-5);
    }
  }, 240_000);
});
