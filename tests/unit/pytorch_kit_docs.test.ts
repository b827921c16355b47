import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { USAGE } from '../../src/cli/args.js';
import { EXPORT_USAGE } from '../../src/cli/export.js';
import { RESNET_USAGE } from '../../src/cli/resnet.js';
import { encodeSafetensors } from '../../src/train/safetensors.js';
import { runCli } from '../helpers/cli.js';

/*
 * docs/leaving-the-browser.md: its onnxruntime-node program runs as printed on a model that
 * `webgpu-dl export --format onnx` wrote, and its PyTorch commands use flags the CLI and the kit
 * take (the kit tests run the same commands on tiny data: pytorch_kit*.test.ts).
 */

const repo = join(import.meta.dirname, '..', '..');
const doc = readFileSync(join(repo, 'docs', 'leaving-the-browser.md'), 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'leaving-the-browser-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('docs/leaving-the-browser.md', () => {
  it('its ONNX Runtime program classifies an image with the exported model', async () => {
    const weights = join(dir, 'mnist.safetensors');
    const layer = (name: string, shape: number[]) => ({ name, shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i + shape[0])) });
    writeFileSync(weights, encodeSafetensors([layer('1.weight', [16, 784]), layer('1.bias', [16]), layer('3.weight', [10, 16]), layer('3.bias', [10])], { format: 'pt', model: 'mlp' }));
    const model = join(dir, 'mnist.onnx');
    const r = await runCli(['export', '--weights', weights, '--format', 'onnx', '--out', model]);
    expect(r.status, r.err.join('\n')).toBe(0);
    const program = /```js\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(program, 'the js block').toBeDefined();
    expect(program).toContain("'mnist.onnx'");
    // Run from the repository, where onnxruntime-node resolves, on the model just written.
    const output = execFileSync(process.execPath, ['--input-type=module', '-e', program!.replace("'mnist.onnx'", JSON.stringify(model))], { cwd: repo, encoding: 'utf8' });
    expect(output.trim()).toMatch(/^class [0-9]$/);
  }, 60_000);

  it('gives the export and train.py commands with flags the CLI and the kit take', () => {
    expect(doc).toContain('webgpu-dl export --weights cnn.safetensors --format pytorch --out cnn-torch/');
    const kit = readFileSync(join(repo, 'scripts', 'kit', 'train.py'), 'utf8');
    const commands = doc.split('\n').filter((l) => /^\s+(python3 train\.py|torchrun)/.test(l));
    expect(commands.length).toBe(2);
    for (const line of commands) {
      for (const flag of line.split('#')[0].match(/--[a-z_-]+/g) ?? []) {
        if (flag !== '--nproc_per_node') expect(kit, `${flag} in "${line.trim()}"`).toContain(`"${flag}"`);
      }
    }
  });

  it('gives the GAN and ResNet commands (train, export, torchrun) with flags the CLI, the launcher and the kit take', () => {
    const lines = doc.split('\n').map((l) => l.split('#')[0].trim());
    const flags = (line: string) => line.match(/--[a-z_-]+/g) ?? [];
    for (const model of ['gan', 'resnet']) {
      const train = lines.find((l) => l.startsWith(`webgpu-dl train --model ${model} `));
      expect(train, `a train --model ${model} command`).toBeDefined();
      for (const flag of flags(train!)) expect(model === 'resnet' ? RESNET_USAGE : USAGE, `${flag} in "${train}"`).toContain(flag);
      const out = /--out (\S+)/.exec(train!)![1];
      const exported = lines.find((l) => l.startsWith(`webgpu-dl export --weights ${out} --format pytorch --out `));
      expect(exported, `an export of ${out}`).toBeDefined();
      for (const flag of flags(exported!)) expect(EXPORT_USAGE, flag).toContain(flag);
    }
    const launcher = lines.find((l) => l.startsWith('python3 -m torch.distributed.run') && l.includes('cifar-10-binary.tar.gz'));
    expect(launcher, 'the ResNet torchrun command').toBeDefined();
    const [before, after] = launcher!.split(' train.py ');
    // The launcher's flags as the kit tests give them (Debian's torch 1.13 needs --redirects/--tee).
    for (const flag of flags(before)) expect(['--standalone', '--nproc_per_node', '--redirects', '--tee']).toContain(flag);
    const kit = readFileSync(join(repo, 'scripts', 'kit', 'train.py'), 'utf8');
    for (const flag of flags(after)) expect(kit, flag).toContain(`"${flag}"`);
  });
});
