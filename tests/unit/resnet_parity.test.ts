import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ParameterStore } from '../../src/graph/params.js';
import { resnet } from '../../src/models/resnet.js';
import { crossEntropy } from '../../src/nn/cross_entropy.js';
import { decodeSafetensors, encodeSafetensors } from '../../src/train/safetensors.js';
import { useEngine } from '../helpers/engine.js';
import { engineGradients, PYTHON, relativeNormError, SCRIPTS, stateDictFile, torchStatus } from '../helpers/parity.js';
import { integers, uniform } from '../helpers/random.js';

/*
 * The engine's ResNet and scripts/torch_models.py's, from the same weights on the same batch in
 * training mode: torch's load_state_dict(strict=True) takes the engine's state dict as it is, and the
 * loss and every gradient agree to 1e-5 (loss relative, gradients in relative norm).
 */

const engine = useEngine();
const torch = torchStatus();
const dir = mkdtempSync(join(tmpdir(), 'resnet-parity-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TORCH_SIDE = `
import json, sys, torch
sys.path.insert(0, ${JSON.stringify(SCRIPTS)})
from check_pytorch import load_safetensors
from parity import save_safetensors
from torch_models import ResNet
folder = sys.argv[1]
model = ResNet(depth=8, width=2, classes=10, channels=3)
model.load_state_dict(load_safetensors(folder + "/weights.safetensors"), strict=True)
batch = load_safetensors(folder + "/batch.safetensors")
loss = torch.nn.functional.cross_entropy(model(batch["x"]), batch["labels"].long())
loss.backward()
grads = {"grad." + n: p.grad for n, p in model.named_parameters()}
save_safetensors(folder + "/torch.safetensors", {"loss": loss.detach().reshape(1), **grads})
print(json.dumps({"torch": torch.__version__}))
`;

describe('resnet against PyTorch', () => {
  it.skipIf(!torch.ok && process.env.CI !== 'true')('loads into torch_models.ResNet strictly and gives the same loss and gradients', async () => {
    if (!torch.ok) throw new Error(`${torch.reason}; install Debian's python3-torch`);
    const model = resnet({ depth: 8, width: 2 });
    const store = new ParameterStore(engine(), { seed: 21 });
    model.register(store);
    const x = uniform(4 * 3 * 8 * 8, 5, -2, 2);
    const labels = Uint32Array.from(integers(4, 10, 6));
    writeFileSync(join(dir, 'weights.safetensors'), (await stateDictFile(store)).bytes);
    writeFileSync(join(dir, 'batch.safetensors'), encodeSafetensors([{ name: 'x', shape: [4, 3, 8, 8], data: x }, { name: 'labels', shape: [4], data: Float32Array.from(labels) }]));
    const c = {
      name: 'resnet',
      model,
      frozen: [],
      inputs: { x: { shape: [4, 3, 8, 8], data: x }, labels: { shape: [4], dtype: 'u32' as const, data: labels } },
      loss: (g: Parameters<typeof crossEntropy>[0], inputs: Record<string, Parameters<typeof crossEntropy>[1]>) => crossEntropy(g, model.apply(g, inputs.x, { store, training: true }), inputs.labels).loss,
    };
    const mine = await engineGradients(engine(), c, { store, frozen: [] });
    execFileSync(PYTHON, ['-c', TORCH_SIDE, dir], { encoding: 'utf8', cwd: SCRIPTS, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
    const theirs = decodeSafetensors(readFileSync(join(dir, 'torch.safetensors'))).tensors;
    expect(Math.abs(mine.loss - theirs.get('loss')!.data[0]) / theirs.get('loss')!.data[0]).toBeLessThan(1e-5);
    const names = store.list.map((p) => p.name);
    expect(relativeNormError(names, (n) => mine.grads.get(n)!, (n) => theirs.get(`grad.${n}`)!.data)).toBeLessThan(1e-5);
    store.dispose();
  });
});
