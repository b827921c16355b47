import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ParameterStore } from '../../src/graph/params.js';
import { mlpDiscriminator, mlpGenerator } from '../../src/models/gan.js';
import { mnistCnn, mnistMlp } from '../../src/models/mnist.js';
import { Adam, SGD, type Optimizer } from '../../src/optim/optimizers.js';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from '../../src/train/safetensors.js';
import { useEngine } from '../helpers/engine.js';
import { disposeStores, engineGradients, engineSteps, relativeNormError, runPython, stateDictFile, storesFor, torchStatus, type ParityCase } from '../helpers/parity.js';
import { integers, uniform } from '../helpers/random.js';

/*
 * The same weights and the same batch through the engine and through PyTorch (scripts/parity.py,
 * on Debian's python3-torch): the loss within 1e-5 relative, the whole gradient vector and the
 * weights after each of two optimizer steps within 1e-5 in relative norm, for every model family.
 */

const torch = torchStatus();
const inCi = process.env.CI === 'true';
const TOLERANCE = 1e-5;

/**
 * How far an optimizer's update (weights after − before) may differ from torch's, relative to its
 * norm. SGD's is held to TOLERANCE. Adam's is 1e-4: its steps are about lr for every component,
 * some fifty times smaller than a weight, so the f32 rounding of the stored weights alone differs by
 * about 7e-6 of the update (measured in every family, both engines rounding correctly), and a
 * component whose gradient lies below eps (1e-8) steps by an amount that f32 summation noise in
 * the gradient decides. The weights themselves are held to TOLERANCE.
 */
const UPDATE_TOLERANCE = { adam: 1e-4, sgd: TOLERANCE } as const;

/** torch.optim settings the engine's optimizers are given too; SGD with momentum and weight decay. */
const OPTIMIZERS = [
  { name: 'adam', kind: 'adam', lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, steps: 2 },
  { name: 'sgd', kind: 'sgd', lr: 0.05, momentum: 0.9, dampening: 0, nesterov: false, weightDecay: 1e-3, steps: 2 },
] as const;

function engineOptimizer(o: (typeof OPTIMIZERS)[number]): Optimizer {
  return o.kind === 'adam'
    ? new Adam({ lr: o.lr, beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weightDecay })
    : new SGD({ lr: o.lr, momentum: o.momentum, dampening: o.dampening, nesterov: o.nesterov, weightDecay: o.weightDecay });
}

function classifierCase(name: 'mlp' | 'cnn', batch: number): ParityCase {
  const model = name === 'mlp' ? mnistMlp() : mnistCnn();
  const shape = name === 'mlp' ? [batch, 784] : [batch, 1, 28, 28];
  return {
    name,
    model,
    frozen: [],
    inputs: { x: { shape, data: uniform(batch * 784, 21, 0, 1) }, labels: { shape: [batch], dtype: 'u32', data: integers(batch, 10, 22) } },
    loss: (g, { x, labels }, { store }) => g.apply('softmax_cross_entropy', [model.apply(g, x, { store, training: true }), labels], {})[0],
  };
}

function discriminatorCase(batch: number): ParityCase {
  const model = mlpDiscriminator();
  const ones = { shape: [batch, 1], data: new Float32Array(batch).fill(1) };
  return {
    name: 'gan_d',
    model,
    frozen: [],
    inputs: { real: { shape: [batch, 784], data: uniform(batch * 784, 31) }, fake: { shape: [batch, 784], data: uniform(batch * 784, 32) }, ones, zeros: { shape: [batch, 1], data: new Float32Array(batch) } },
    loss: (g, { real, fake, ones: one, zeros }, { store }) => {
      const d = (x: typeof real) => model.apply(g, x, { store, training: true });
      const [lossReal] = g.apply('bce_with_logits', [d(real), one], {});
      const [lossFake] = g.apply('bce_with_logits', [d(fake), zeros], {});
      return g.apply('add', [lossReal, lossFake], {})[0];
    },
  };
}

function generatorCase(batch: number): ParityCase {
  const model = mlpGenerator();
  const discriminator = mlpDiscriminator();
  return {
    name: 'gan_g',
    model,
    frozen: [{ module: discriminator, path: 'D' }],
    inputs: { z: { shape: [batch, 100], data: uniform(batch * 100, 41) }, ones: { shape: [batch, 1], data: new Float32Array(batch).fill(1) } },
    loss: (g, { z, ones }, { store, frozen }) => {
      const images = model.apply(g, z, { store, training: true });
      return g.apply('bce_with_logits', [discriminator.apply(g, images, { store: frozen[0], training: true }), ones], {})[0];
    },
  };
}

/** Random initial weights, drawn by the engine's own initialisers, for the trained module and each frozen one. */
async function initialWeights(c: ParityCase, seed: number): Promise<{ weights: Map<string, Float32Array>; files: Map<string, Uint8Array> }> {
  const weights = new Map<string, Float32Array>();
  const files = new Map<string, Uint8Array>();
  for (const [module, path] of [[c.model, ''], ...c.frozen.map((f) => [f.module, f.path] as const)] as const) {
    const store = new ParameterStore(engine(), { seed: seed + path.length });
    try {
      module.register(store, path);
      const { bytes, tensors } = await stateDictFile(store, path ? `${path}.` : '');
      for (const t of tensors) weights.set(path ? `${path}.${t.name}` : t.name, t.data);
      files.set(path, bytes);
    } finally {
      store.dispose();
    }
  }
  return { weights, files };
}

const engine = useEngine();

describe.skipIf(!torch.ok && !inCi)('PyTorch parity (same weights, same batch)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pytorch-parity-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds torch in /usr/bin/python3 (CI installs python3-torch; a missing torch fails there)', () => {
    if (!torch.ok) throw new Error(`${torch.reason}; CI needs Debian's python3-torch (bash scripts/setup.sh system installs it)`);
  });

  it('MLP, CNN, GAN discriminator and generator: loss, gradients, and two Adam and SGD-momentum steps', async () => {
    const cases = [classifierCase('mlp', 16), classifierCase('cnn', 3), discriminatorCase(8), generatorCase(8)];
    const spec = [];
    const engineSide = new Map<string, { loss: number; grads: Map<string, Float32Array>; steps: Map<string, Map<string, Float32Array>[]>; initial: Map<string, Float32Array> }>();
    for (const [i, c] of cases.entries()) {
      const { weights, files } = await initialWeights(c, 100 + i);
      writeFileSync(join(dir, `${c.name}.safetensors`), files.get('')!);
      if (c.frozen.length) writeFileSync(join(dir, `${c.name}.D.safetensors`), files.get('D')!);
      const batch: NamedTensor[] = Object.entries(c.inputs).map(([name, v]) => ({ name, shape: v.shape, data: Float32Array.from(v.data) }));
      writeFileSync(join(dir, `${c.name}.batch.safetensors`), encodeSafetensors(batch));
      spec.push({ name: c.name, model: c.name, weights: `${c.name}.safetensors`, discriminator: `${c.name}.D.safetensors`, batch: `${c.name}.batch.safetensors`, optimizers: OPTIMIZERS });

      let stores = storesFor(engine(), c, weights);
      const { loss, grads } = await engineGradients(engine(), c, stores);
      disposeStores(stores);
      const steps = new Map<string, Map<string, Float32Array>[]>();
      for (const o of OPTIMIZERS) {
        stores = storesFor(engine(), c, weights);
        steps.set(o.name, await engineSteps(engine(), c, stores, engineOptimizer(o), o.steps));
        disposeStores(stores);
      }
      engineSide.set(c.name, { loss, grads, steps, initial: weights });
    }
    writeFileSync(join(dir, 'spec.json'), JSON.stringify({ cases: spec }));
    const started = performance.now();
    const info = runPython('parity.py', [dir]);
    console.log(`pytorch parity: torch ${String(info.torch)} ran ${cases.length} cases in ${((performance.now() - started) / 1000).toFixed(1)} s`);

    const stepErrors: [string, number, number][] = [];
    for (const c of cases) {
      const ours = engineSide.get(c.name)!;
      const theirs = decodeSafetensors(new Uint8Array(readFileSync(join(dir, `${c.name}.result.safetensors`)))).tensors;
      const t = (name: string) => theirs.get(name)?.data ?? expect.fail(`${c.name}: PyTorch wrote no '${name}'`);
      const names = [...ours.grads.keys()];
      const lossError = Math.abs(ours.loss - t('loss')[0]) / Math.abs(t('loss')[0]);
      const gradError = relativeNormError(names, (n) => ours.grads.get(n)!, (n) => t(`grad.${n}`));
      const report = [`loss ${ours.loss.toPrecision(8)} (rel ${lossError.toExponential(1)})`, `grad ${gradError.toExponential(1)}`];
      expect(lossError, `${c.name} loss`).toBeLessThanOrEqual(TOLERANCE);
      expect(gradError, `${c.name} gradients`).toBeLessThanOrEqual(TOLERANCE);
      // The gradient must be a real signal, not zeros matched by zeros.
      const norm = Math.sqrt(names.reduce((sum, n) => t(`grad.${n}`).reduce((a, v) => a + v * v, sum), 0));
      expect(norm, `${c.name} gradient norm`).toBeGreaterThan(1e-3);
      for (const o of OPTIMIZERS) {
        for (let s = 1; s <= o.steps; s++) {
          const after = ours.steps.get(o.name)![s - 1];
          const torchAfter = (n: string) => t(`${o.name}.${s}.${n}`);
          const paramError = relativeNormError(names, (n) => after.get(n)!, torchAfter);
          // The change from the initial weights too: a far stricter measure than the weights it is added to.
          const change = (p: ArrayLike<number>, n: string) => Float64Array.from(p, (v, i) => v - ours.initial.get(n)![i]);
          const updateError = relativeNormError(names, (n) => change(after.get(n)!, n), (n) => change(torchAfter(n), n));
          report.push(`${o.name} step ${s}: weights ${paramError.toExponential(1)}, update ${updateError.toExponential(1)}`);
          stepErrors.push([`${c.name} ${o.name} step ${s} weights`, paramError, TOLERANCE]);
          stepErrors.push([`${c.name} ${o.name} step ${s} update`, updateError, UPDATE_TOLERANCE[o.kind]]);
        }
      }
      console.log(`pytorch parity ${c.name}: ${report.join(', ')}`);
    }
    for (const [what, error, tolerance] of stepErrors) expect(error, what).toBeLessThanOrEqual(tolerance);
  });
});

if (!torch.ok && !inCi) {
  describe('PyTorch parity', () => {
    it.skip(`skipped: ${(torch as { reason: string }).reason} (install python3-torch; in CI this fails instead)`, () => {});
  });
}
