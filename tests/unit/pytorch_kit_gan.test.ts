import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ganCheckpointPaths } from '../../src/cli/gan_checkpoint.js';
import type { ImageDataset } from '../../src/data/dataset.js';
import { encodeIdx } from '../../src/data/idx.js';
import { IDX_FILES, loadIdxFolder } from '../../src/data/idx_files.js';
import type { ParameterStore } from '../../src/graph/params.js';
import { mlpDiscriminator, mlpGenerator } from '../../src/models/gan.js';
import { Adam } from '../../src/optim/optimizers.js';
import { GanTrainer } from '../../src/train/gan.js';
import { NoiseSource } from '../../src/train/noise.js';
import { decodeSafetensors, encodeSafetensors } from '../../src/train/safetensors.js';
import { runCli } from '../helpers/cli.js';
import { useEngine } from '../helpers/engine.js';
import { PYTHON, SCRIPTS, torchStatus } from '../helpers/parity.js';
import { torchrunLauncher } from '../helpers/pytorch_kit.js';
import { rng } from '../helpers/random.js';

/*
 * `train --model gan --out FILE` writes the whole run beside the generator: the discriminator and
 * both networks' Adam state, named as the torch.nn equivalents of scripts/torch_models.py name
 * their parameters, each paired with its weights (run id, step), and loadable by PyTorch. The
 * exported train.py draws the engine's own latent noise (scripts/kit/philox.py: the Philox stream
 * is the update count), so its next iteration is the engine's next iteration.
 */

const torch = torchStatus();
const inCi = process.env.CI === 'true';
const dir = mkdtempSync(join(tmpdir(), 'gan-run-'));
const out = join(dir, 'g.safetensors');
const paths = ganCheckpointPaths(out);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const engine = useEngine();
const INDICES = [3, 30, 8, 21, 14, 0, 27, 11, 5, 19, 24, 9, 16, 31, 2, 12];
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

  it.skipIf(!torch.ok && !inCi)('export --format pytorch resumes both networks at step 3; torchrun with 2 processes (gloo) steps as one process', { retry: 1, timeout: 240_000 }, async () => {
    const kit = await exportKit();
    expect(JSON.parse(readFileSync(join(kit, 'kit.json'), 'utf8'))).toMatchObject({ model: 'gan', step: 2, config: { latent: 100, height: 28, width: 28 }, recipe: { optimizer: { beta1: 0.5 }, schedule: 'constant', batch: 16 } });
    const run = (save: string, processes: number) => {
      const args = [join(kit, 'train.py'), '--data', join(dir, 'idx'), '--epochs', '2', '--steps', '1', '--batch-indices', INDICES.join(','), '--save', save];
      const stdout = execFileSync(PYTHON, processes === 1 ? args : [...torchrunLauncher(processes), ...args], { cwd: kit, encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', OMP_NUM_THREADS: '1' }, timeout: 120_000 });
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
  });
});

async function exportKit(): Promise<string> {
  const kit = join(dir, 'kit');
  const r = await runCli(['export', '--weights', out, '--format', 'pytorch', '--out', kit]);
  expect(r.status, r.err.join('\n')).toBe(0);
  return kit;
}

/** All tensors of a safetensors file (or of `store`, prefix dropped), in name order, in float64. */
const flatFile = (path: string) => flatTensors(read(path).tensors);
function flatTensors(tensors: ReadonlyMap<string, { data: Float32Array }>): Float64Array {
  return Float64Array.from([...tensors.keys()].sort().flatMap((n) => Array.from(tensors.get(n)!.data)));
}
async function flatStore(store: ParameterStore, prefix: string): Promise<Float64Array> {
  const tensors = new Map<string, { data: Float32Array }>();
  for (const p of store.stateDict) tensors.set(p.name.slice(prefix.length), { data: await store.read(p.name) });
  return flatTensors(tensors);
}
const norm = (v: Float64Array) => Math.sqrt(v.reduce((sum, x) => sum + x * x, 0));
const relativeNormError = (a: Float64Array, b: Float64Array) => norm(a.map((v, i) => v - b[i])) / norm(b);

/** The weights and Adam state of one network's files, written into its store under `prefix`. */
function loadInto(store: ParameterStore, prefix: string, weights: string, state: string): void {
  for (const [name, t] of read(weights).tensors) store.write(prefix + name, t.data);
  const s = read(state);
  for (const [name, t] of s.tensors) {
    const key = name.endsWith('.exp_avg_sq') ? 'exp_avg_sq' : 'exp_avg';
    store.writeState(key, prefix + name.slice(0, -key.length - 1), t.data);
  }
  store.setOptimizerSteps(Number(s.metadata.step));
}

/** The engine's own latent noise for one step: the kernel and uniforms GanTrainer's NoiseSource records. */
async function engineNoise(count: number, seed: number, stream: number): Promise<Float32Array> {
  const e = engine();
  const size = count * 4;
  const buffer = e.device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, label: 'test latent noise' });
  const source = await NoiseSource.create(e, { buffer, offset: 0, size }, count, seed);
  try {
    const encoder = e.device.createCommandEncoder();
    source.encode(encoder, stream);
    e.device.queue.submit([encoder.finish()]);
    return new Float32Array(await e.readBytes(buffer, size));
  } finally {
    source.dispose();
    buffer.destroy();
  }
}

interface GanStepLine {
  event: string;
  step: number;
  dLoss: number;
  gLoss: number;
}

describe.skipIf(!torch.ok && !inCi)('the GAN kit\'s next iteration', () => {
  /*
   * Given the engine's own noise (--noise, read back from its kernel), one train.py iteration is the
   * engine's: losses, weights and Adam's update (weights after − before) within 1e-5 norm-wise.
   * Drawing the noise itself (philox.py, the default), train.py sees the engine's noise to the
   * rounding of the GPU's cos and sin (WGSL allows 2^-11: ~1e-4 of the noise's norm on SwiftShader);
   * Adam turns that into ~6e-5 of its update, since it steps every component by about lr whatever
   * its gradient's size, so that run's update is held to 1e-4 (as pytorch_parity.test.ts holds
   * Adam's), its losses and weights to 1e-5.
   */
  it('one train.py iteration (D step then G step) equals the engine\'s next iteration from the checkpoint', async () => {
    const kit = await exportKit();
    const recipe = JSON.parse(readFileSync(join(kit, 'kit.json'), 'utf8')).recipe as { seed: number; batch: number; optimizer: { lr: number; beta1: number } };
    const batch = INDICES.length;
    const update = 3; // the checkpoint holds 2 updates of each network
    const noiseFile = join(dir, 'noise.safetensors');
    writeFileSync(noiseFile, encodeSafetensors([
      { name: `discriminator.${update}`, shape: [batch, 100], data: await engineNoise(batch * 100, recipe.seed * 3 + 101, update - 1) },
      { name: `generator.${update}`, shape: [batch, 100], data: await engineNoise(batch * 100, recipe.seed * 3 + 102, update - 1) },
    ], {}));
    const trainPy = (save: string, extra: string[]) => {
      const stdout = execFileSync(PYTHON, [join(kit, 'train.py'), '--data', join(dir, 'idx'), '--epochs', '2', '--steps', '1', '--batch-indices', INDICES.join(','), '--save', save, ...extra], { cwd: kit, encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', OMP_NUM_THREADS: '1' }, timeout: 120_000 });
      const steps = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as GanStepLine).filter((l) => l.event === 'step');
      expect(steps.map((l) => l.step)).toEqual([update]);
      return steps[0];
    };
    const runs = [
      { name: 'engine noise', save: join(dir, 'given.safetensors'), line: trainPy(join(dir, 'given.safetensors'), ['--noise', noiseFile]), loss: 1e-5, update: 1e-5, weights: 1e-5 },
      { name: 'philox.py noise', save: join(dir, 'drawn.safetensors'), line: trainPy(join(dir, 'drawn.safetensors'), []), loss: 1e-5, update: 1e-4, weights: 1e-5 },
    ];

    const adam = () => new Adam({ lr: recipe.optimizer.lr, beta1: recipe.optimizer.beta1 });
    const gan = new GanTrainer(engine(), { generator: mlpGenerator(100, [256, 512], 784), discriminator: mlpDiscriminator(784, [512, 256]), latent: 100, pixels: 784, optimizerG: adam(), optimizerD: adam(), seed: recipe.seed });
    try {
      loadInto(gan.generatorStore, 'G.', out, paths.generatorOptimizer);
      loadInto(gan.discriminatorStore, 'D.', paths.discriminator, paths.discriminatorOptimizer);
      const images = (await loadIdxFolder(join(dir, 'idx'))).train;
      const picked: ImageDataset = { ...images, count: batch, images: Uint8Array.from(INDICES.flatMap((s) => Array.from(images.images.subarray(s * 784, (s + 1) * 784)))), labels: Uint8Array.from(INDICES, (s) => images.labels[s]) };
      const [epoch] = await gan.fit(picked, { epochs: 1, batchSize: batch });
      for (const run of runs) {
        const losses = [Math.abs(run.line.dLoss - epoch.dLoss) / epoch.dLoss, Math.abs(run.line.gLoss - epoch.gLoss) / epoch.gLoss];
        for (const [network, store, prefix, before, after] of [
          ['generator', gan.generatorStore, 'G.', out, run.save],
          ['discriminator', gan.discriminatorStore, 'D.', paths.discriminator, run.save.replace(/\.safetensors$/, '.discriminator.safetensors')],
        ] as const) {
          const start = flatFile(before);
          const ours = await flatStore(store, prefix);
          const theirs = flatFile(after);
          const updateError = relativeNormError(theirs.map((v, i) => v - start[i]), ours.map((v, i) => v - start[i]));
          const weightsError = relativeNormError(theirs, ours);
          console.log(`pytorch kit gan ${network} (${run.name}): D loss rel ${losses[0].toExponential(2)}, G loss rel ${losses[1].toExponential(2)}; update rel error ${updateError.toExponential(2)}, weights ${weightsError.toExponential(2)}`);
          expect(updateError).toBeLessThanOrEqual(run.update);
          expect(weightsError).toBeLessThanOrEqual(run.weights);
          expect(norm(ours.map((v, i) => v - start[i]))).toBeGreaterThan(1e-4);
        }
        for (const l of losses) expect(l).toBeLessThanOrEqual(run.loss);
      }
    } finally {
      gan.dispose();
    }
  }, 180_000);
});
