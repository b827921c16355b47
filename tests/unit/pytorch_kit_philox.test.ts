import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { randomBits, randomNormal } from '../../src/eager/random.js';
import { useEngine } from '../helpers/engine.js';
import { PYTHON, SCRIPTS, torchStatus } from '../helpers/parity.js';

/*
 * scripts/kit/philox.py draws the engine's random numbers on the CPU (the GAN kit's latent noise):
 * its Philox words equal the GPU kernel's bit for bit, on every stream, and its normals equal the
 * GPU's within the rounding of f32 log, cos and sin.
 */

const torch = torchStatus();
const inCi = process.env.CI === 'true';
const engine = useEngine();

function python(program: string): unknown {
  const stdout = execFileSync(PYTHON, ['-c', `import json, sys\nsys.path.insert(0, ${JSON.stringify(join(SCRIPTS, 'kit'))})\nimport philox\n${program}`], { encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

describe.skipIf(!torch.ok && !inCi)('scripts/kit/philox.py', () => {
  it('draws the GPU kernel\'s Philox words (seed above 2^32, stream 7, a count not a multiple of 4)', async () => {
    const [n, seed, stream] = [1023, 2 ** 33 + 5, 7];
    const gpu = Array.from(await randomBits(engine(), [n], { seed, stream }).read());
    const cpu = python(`import numpy as np
g = np.arange(${Math.ceil(n / 4)}, dtype=np.uint64); z = np.zeros_like(g)
w = philox.philox4x32((g, np.full_like(g, ${stream}), z, z), philox.seed_words(${seed}))
print(json.dumps([int(x) for x in np.stack(w, 1).reshape(-1)[:${n}]]))`) as number[];
    expect(cpu.length).toBe(n);
    expect(cpu).toEqual(gpu);
  });

  it('draws the GPU kernel\'s normals (Box-Muller), within what WGSL allows the GPU\'s cos and sin', async () => {
    const [n, seed] = [1001, 3 * 7 + 101];
    const gpu = await randomNormal(engine(), [n], { seed }).read();
    const cpu = python(`print(json.dumps([float(x) for x in philox.normal(${n}, ${seed}, 0)]))`) as number[];
    expect(cpu.length).toBe(n);
    let [worst, diff, size] = [0, 0, 0];
    for (let i = 0; i < n; i++) {
      worst = Math.max(worst, Math.abs(cpu[i] - gpu[i]));
      diff += (cpu[i] - gpu[i]) ** 2;
      size += gpu[i] ** 2;
    }
    console.log(`philox.py normals vs the GPU's: largest difference ${worst.toExponential(2)}, norm-wise ${Math.sqrt(diff / size).toExponential(2)}`);
    // r ≤ √(2·24·ln 2) ≈ 5.8 times cos or sin, each within 2^-11 of exact on the GPU (WGSL's bound).
    expect(worst).toBeLessThanOrEqual(5.8 * 2 ** -11);
    expect(Math.sqrt(diff / size)).toBeLessThanOrEqual(1e-3);
  });
});

if (!torch.ok && !inCi) {
  describe('scripts/kit/philox.py', () => {
    it.skip(`skipped: ${(torch as { reason: string }).reason} (install python3-torch; in CI this fails instead)`, () => {});
  });
}
