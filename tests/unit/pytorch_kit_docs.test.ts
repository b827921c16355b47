import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeSafetensors } from '../../src/train/safetensors.js';
import { runCli } from '../helpers/cli.js';

/*
 * docs/leaving-the-browser.md: its onnxruntime-node program runs as printed on a model that
 * `webgpu-dl export --format onnx` wrote, and its PyTorch commands use the kit's own flags.
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
});
