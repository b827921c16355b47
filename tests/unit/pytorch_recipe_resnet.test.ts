import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { RESNET_RECIPE } from '../../src/cli/resnet.js';
import { channelStatistics } from '../../src/data/cifar.js';
import type { ImageDataset } from '../../src/data/dataset.js';
import { ParameterStore } from '../../src/graph/params.js';
import { resnet } from '../../src/models/resnet.js';
import { Flatten, Linear, Sequential } from '../../src/nn/layers.js';
import { BatchNorm2d } from '../../src/nn/normalization.js';
import type { Module } from '../../src/nn/module.js';
import { SGD } from '../../src/optim/optimizers.js';
import { cosine } from '../../src/train/schedules.js';
import { Trainer } from '../../src/train/trainer.js';
import { useEngine } from '../helpers/engine.js';
import { PYTHON, SCRIPTS, torchStatus } from '../helpers/parity.js';
import { rng } from '../helpers/random.js';

/*
 * scripts/train_pytorch.py's ResNet recipe is the CLI's, piece by piece: the learning rate of every
 * step (the engine's Trainer runs whole batches only, so the step count and the cosine's length
 * match), the per-channel normalisation statistics, SGD's settings and the parameters it decays
 * (BatchNorm's included), BatchNorm's momentum and eps, and the initialisation's scale per tensor.
 * The accuracy comparison itself (docs/results.md) is a long run, not a test; these are what make
 * it a comparison of engines rather than of recipes.
 */

const torch = torchStatus();
const inCi = process.env.CI === 'true';
const engine = useEngine();

/** Runs `program` (Python, with scripts/ importable) and parses the JSON it prints. */
function python<T>(program: string): T {
  const stdout = execFileSync(PYTHON, ['-c', program], { cwd: SCRIPTS, encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
  return JSON.parse(stdout) as T;
}

/** `count` random 3-channel images of height×width, with channel 2 of every image constant (std 0). */
function randomImages(count: number, height: number, width: number, seed: number): ImageDataset {
  const next = rng(seed);
  const plane = height * width;
  const images = Uint8Array.from({ length: count * 3 * plane }, (_, i) => (Math.floor(i / plane) % 3 === 2 ? 77 : Math.floor(next() * 256)));
  const labels = Uint8Array.from({ length: count }, () => Math.floor(next() * 4));
  return { images, labels, count, height, width, channels: 3, classes: 4 };
}

const std = (v: Float32Array) => {
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  return Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
};

describe.skipIf(!torch.ok && !inCi)('PyTorch recipe: ResNet (scripts/train_pytorch.py)', () => {
  it('finds torch in /usr/bin/python3 (CI installs python3-torch; a missing torch fails there)', () => {
    if (!torch.ok) throw new Error(`${torch.reason}; CI needs Debian's python3-torch (bash scripts/setup.sh system installs it)`);
  });

  it('steps through the learning rates the engine\'s fit uses: as many steps, the same cosine', async () => {
    // 300 images in batches of 128: 2 whole batches an epoch (44 images dropped), 6 steps in 3 epochs.
    const data = randomImages(300, 4, 5, 3);
    const [epochs, batch, lr] = [3, 128, 0.1];
    const used: number[] = [];
    const anneal = cosine();
    const model = new Sequential(new Flatten(), new Linear(60, 4));
    const trainer = new Trainer(engine(), { model, inputShape: [3, 4, 5], classes: 4, optimizer: new SGD({ lr, momentum: 0.9, nesterov: true }), seed: 1 });
    try {
      await trainer.fit(data, { epochs, batchSize: batch, schedule: (step, total, base) => (used.push(anneal(step, total, base)), used[used.length - 1]) });
    } finally {
      trainer.dispose();
    }
    const theirs = python<number[]>(
      `import json, train_pytorch as t\nn = t.resnet_steps_per_epoch(${data.count}, ${batch})\nprint(json.dumps([t.cosine_lr(s, ${epochs} * n, ${lr}) for s in range(${epochs} * n)]))`,
    );
    expect(used).toHaveLength(6);
    expect(theirs).toHaveLength(used.length);
    theirs.forEach((v, i) => expect(v, `step ${i}`).toBeCloseTo(used[i], 12));
  }, 120_000);

  it('normalises with the engine\'s per-channel statistics (population std, floored at 1/255)', () => {
    const data = randomImages(7, 5, 6, 11);
    const ours = channelStatistics(data);
    const theirs = python<{ mean: number[]; std: number[] }>(
      `import json, numpy as np, train_pytorch as t\nx = np.array(${JSON.stringify(Array.from(data.images))}, dtype=np.uint8).reshape(7, 3, 5, 6)\n` +
        'm, s = t.channel_statistics(x)\nprint(json.dumps({"mean": m.tolist(), "std": s.tolist()}))',
    );
    expect(theirs.std[2]).toBe(1 / 255);
    for (let c = 0; c < 3; c++) {
      expect(theirs.mean[c]).toBeCloseTo(ours.mean[c], 12);
      expect(theirs.std[c]).toBeCloseTo(ours.std[c], 12);
    }
  });

  it('uses the CLI\'s SGD on every parameter, and BatchNorm\'s momentum and eps', () => {
    const model = resnet({ depth: 8, width: 4, classes: 10, channels: 3 });
    const store = new ParameterStore(engine(), { seed: 1 });
    model.register(store);
    const names = store.list.map((p) => p.name).sort();
    store.dispose();
    const norms = collect(model, (m): m is BatchNorm2d => m instanceof BatchNorm2d);
    const theirs = python<{ names: string[]; groups: { momentum: number; nesterov: boolean; dampening: number; weight_decay: number; lr: number }[]; bn: [number, number][] }>(
      [
        'import json, torch, train_pytorch as t',
        'from torch_models import ResNet',
        'm = ResNet(8, 4, 10, 3)',
        `o = t.resnet_optimizer(m, ${RESNET_RECIPE.lr}, ${RESNET_RECIPE.weightDecay})`,
        'ids = {id(p): n for n, p in m.named_parameters()}',
        'groups = [{k: g[k] for k in ("momentum", "nesterov", "dampening", "weight_decay", "lr")} for g in o.param_groups]',
        'names = sorted(ids[id(p)] for g in o.param_groups for p in g["params"])',
        'bn = [[b.momentum, b.eps] for b in m.modules() if isinstance(b, torch.nn.BatchNorm2d)]',
        'print(json.dumps({"names": names, "groups": groups, "bn": bn}))',
      ].join('\n'),
    );
    expect(theirs.names).toEqual(names);
    expect(theirs.groups).toEqual([{ momentum: RESNET_RECIPE.momentum, nesterov: RESNET_RECIPE.nesterov, dampening: 0, weight_decay: RESNET_RECIPE.weightDecay, lr: RESNET_RECIPE.lr }]);
    expect(theirs.bn).toEqual(norms.map((b) => [b.momentum, b.eps]));
  });

  it('initialises at the engine\'s scale: He-normal convolutions and fc weight, unit BatchNorm, small fc bias', async () => {
    const model = resnet({ depth: 8, width: 16, classes: 10, channels: 3 });
    const store = new ParameterStore(engine(), { seed: 5 });
    model.register(store);
    const ours = new Map<string, Float32Array>();
    for (const p of store.list) ours.set(p.name, await store.read(p.name));
    store.dispose();
    // Per tensor: [count, population std, largest |value|, smallest value] (the tensors themselves are too long for a pipe).
    const theirs = python<Record<string, [number, number, number, number]>>(
      'import json, torch\nfrom torch_models import ResNet\ntorch.manual_seed(5)\n' +
        'print(json.dumps({n: [p.numel(), p.std(unbiased=False).item(), p.abs().max().item(), p.min().item()] for n, p in ResNet(8, 16, 10, 3).named_parameters()}))',
    );
    expect(Object.keys(theirs).sort()).toEqual([...ours.keys()].sort());
    for (const [name, mine] of ours) {
      const [count, theirStd, theirMaxAbs, theirMin] = theirs[name];
      expect(count, name).toBe(mine.length);
      if (/bn\d?\.(weight|bias)$/.test(name)) {
        const value = name.endsWith('weight') ? 1 : 0;
        expect([theirMin, theirMaxAbs, Math.min(...mine), Math.max(...mine.map(Math.abs))], name).toEqual([value, value, value, value]);
      } else if (name === 'fc.bias') {
        const bound = 1 / Math.sqrt(64);
        expect(theirMaxAbs, name).toBeLessThanOrEqual(bound);
        expect(Math.max(...mine.map(Math.abs)), name).toBeLessThanOrEqual(bound);
      } else {
        // The ratio of two independent draws' deviations spreads by about 1/√n: 5/√n is wide for
        // chance (n ≥ 432 here), narrow for a wrong scheme: torch's default (kaiming_uniform, a = √5)
        // is √6 times smaller than He's.
        expect(Math.abs(theirStd / std(mine) - 1), name).toBeLessThan(5 / Math.sqrt(count));
      }
    }
  }, 60_000);
});

/** Every module under `root` (itself included) that `keep` accepts, in depth-first order. */
function collect<T extends Module>(root: Module, keep: (m: Module) => m is T): T[] {
  return [...(keep(root) ? [root] : []), ...root.children().flatMap((c) => collect(c, keep))];
}

if (!torch.ok && !inCi) {
  describe('PyTorch recipe: ResNet (scripts/train_pytorch.py)', () => {
    it.skip(`skipped: ${(torch as { reason: string }).reason} (install python3-torch; in CI this fails instead)`, () => {});
  });
}
