import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { evenlySpacedStarts, WindowSampler } from '../../src/data/text.js';
import { ParameterStore } from '../../src/graph/params.js';
import { charTransformer } from '../../src/models/transformer.js';
import { crossEntropy } from '../../src/nn/cross_entropy.js';
import { AdamW } from '../../src/optim/optimizers.js';
import { decodeSafetensors, encodeSafetensors } from '../../src/train/safetensors.js';
import { useEngine } from '../helpers/engine.js';
import { disposeStores, engineGradients, engineSteps, PYTHON, relativeNormError, runPython, SCRIPTS, stateDictFile, storesFor, torchStatus, type ParityCase } from '../helpers/parity.js';
import { integers } from '../helpers/random.js';

/*
 * The character transformer through the engine and through scripts/torch_models.py's CharTransformer
 * (scripts/parity.py): same weights, same batch, the loss within 1e-5 relative, the gradients and
 * the weights after two AdamW steps (the CLI's betas and decay) within 1e-5 in relative norm; and
 * scripts/train_pytorch.py draws the very training and evaluation windows the engine does.
 */

const torch = torchStatus();
const inCi = process.env.CI === 'true';
const TOLERANCE = 1e-5;
const engine = useEngine();
const CONFIG = { vocab: 13, context: 9, layers: 2, heads: 2, dim: 8, dropout: 0 };
const ADAMW = { name: 'adamw', kind: 'adamw', lr: 1e-3, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1, steps: 2 } as const;

describe.skipIf(!torch.ok && !inCi)('PyTorch parity: character transformer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pytorch-parity-transformer-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds torch in /usr/bin/python3 (CI installs python3-torch; a missing torch fails there)', () => {
    if (!torch.ok) throw new Error(`${torch.reason}; CI needs Debian's python3-torch (bash scripts/setup.sh system installs it)`);
  });

  it('gives PyTorch\'s loss, gradients and AdamW steps on the same weights and batch; our checkpoint loads strictly', async () => {
    const model = charTransformer(CONFIG);
    const batch = 3;
    const c: ParityCase = {
      name: 'transformer',
      model,
      frozen: [],
      inputs: { x: { shape: [batch, 9], dtype: 'u32', data: integers(27, 13, 71) }, labels: { shape: [batch, 9], dtype: 'u32', data: integers(27, 13, 72) } },
      loss: (g, { x, labels }, { store }) => crossEntropy(g, model.apply(g, x, { store, training: true }), labels).loss,
    };
    const init = new ParameterStore(engine(), { seed: 9 });
    model.register(init);
    const { bytes, tensors } = await stateDictFile(init);
    init.dispose();
    const weights = new Map(tensors.map((t) => [t.name, t.data]));
    writeFileSync(join(dir, 'transformer.safetensors'), bytes);
    writeFileSync(join(dir, 'transformer.batch.safetensors'), encodeSafetensors(Object.entries(c.inputs).map(([name, v]) => ({ name, shape: v.shape, data: Float32Array.from(v.data) }))));
    writeFileSync(join(dir, 'spec.json'), JSON.stringify({ cases: [{ name: 'transformer', model: 'transformer', config: CONFIG, weights: 'transformer.safetensors', batch: 'transformer.batch.safetensors', optimizers: [ADAMW] }] }));

    let stores = storesFor(engine(), c, weights);
    const ours = await engineGradients(engine(), c, stores);
    disposeStores(stores);
    stores = storesFor(engine(), c, weights);
    const steps = await engineSteps(engine(), c, stores, new AdamW({ lr: ADAMW.lr, beta1: ADAMW.beta1, beta2: ADAMW.beta2, eps: ADAMW.eps, weightDecay: ADAMW.weightDecay }), ADAMW.steps);
    disposeStores(stores);

    runPython('parity.py', [dir]); // load_state_dict(strict=True) inside: our names and shapes are torch's
    const theirs = decodeSafetensors(new Uint8Array(readFileSync(join(dir, 'transformer.result.safetensors')))).tensors;
    const t = (name: string) => theirs.get(name)?.data ?? expect.fail(`PyTorch wrote no '${name}'`);
    const names = [...ours.grads.keys()];
    expect(names).toHaveLength(weights.size);
    const lossError = Math.abs(ours.loss - t('loss')[0]) / Math.abs(t('loss')[0]);
    const gradError = relativeNormError(names, (n) => ours.grads.get(n)!, (n) => t(`grad.${n}`));
    console.log(`pytorch parity transformer: loss ${ours.loss.toPrecision(8)} (rel ${lossError.toExponential(1)}), grad ${gradError.toExponential(1)}`);
    expect(lossError).toBeLessThanOrEqual(TOLERANCE);
    expect(gradError).toBeLessThanOrEqual(TOLERANCE);
    // Softmax ignores what a row of scores shares, so the key bias has no gradient but rounding
    // noise (~1e-10), which Adam's first steps scale up to as much as lr, differently in each engine:
    // its q and v parts are compared, not its k part.
    const dim = CONFIG.dim;
    const comparable = (n: string, v: Float32Array) => (n.endsWith('attn.qkv.bias') ? Float32Array.of(...v.subarray(0, dim), ...v.subarray(2 * dim)) : v);
    for (let s = 1; s <= ADAMW.steps; s++) {
      const perName = names.map((n) => [n, relativeNormError([n], (m) => comparable(m, steps[s - 1].get(m)!), (m) => comparable(m, t(`adamw.${s}.${m}`)))] as const);
      const error = relativeNormError(names, (n) => comparable(n, steps[s - 1].get(n)!), (n) => comparable(n, t(`adamw.${s}.${n}`)));
      expect(error, `AdamW step ${s}: ${perName.filter(([, e]) => e > TOLERANCE).map(([n, e]) => `${n} ${e.toExponential(1)}`).join(', ')}`).toBeLessThanOrEqual(TOLERANCE);
    }
  }, 120_000);

  it('train_pytorch.py draws the same training windows and the same evaluation windows', () => {
    const program = [
      'import json, train_pytorch as t',
      's = t.WindowSampler(899914, 1)',
      'print(json.dumps({"train": [int(v) for v in s.next(40)], "eval": [[int(v) for v in a] for a in t.eval_windows(899978, 999976, 64)[1:]]}))',
    ].join('\n');
    const out = JSON.parse(execFileSync(PYTHON, ['-c', program], { cwd: SCRIPTS, encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } })) as { train: number[]; eval: number[][] };
    expect(out.train).toEqual(Array.from(new WindowSampler(899914, 1).next(new Uint32Array(40))));
    expect(out.eval[0]).toEqual(Array.from(evenlySpacedStarts(0, 899978, 64, 200)));
    expect(out.eval[1]).toEqual(Array.from(evenlySpacedStarts(899978, 999976, 64, 200)));
  });
});

if (!torch.ok && !inCi) {
  describe('PyTorch parity: character transformer', () => {
    it.skip(`skipped: ${(torch as { reason: string }).reason} (install python3-torch; in CI this fails instead)`, () => {});
  });
}
