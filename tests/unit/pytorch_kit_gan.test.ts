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
});
