import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/gpu/engine.js';
import { KernelError } from '../../src/gpu/errors.js';
import type { KernelSpec } from '../../src/gpu/kernel_spec.js';
import { activationForward } from '../../src/kernels/activation.js';

// Error scopes are one stack per device. A compile must catch its own errors and only those, even
// while other compiles and other GPU calls run between its awaits.

let engine: Engine;
const logged: string[] = [];

beforeAll(async () => {
  engine = await createEngine({ autotune: false, log: (m) => logged.push(m) });
});

afterAll(async () => {
  await engine.close();
});

/** A kernel whose WGSL does not compile (an undeclared identifier), unique by `tag`. */
function broken(tag: string): KernelSpec {
  return {
    name: `broken_${tag}`,
    code: `@group(0) @binding(0) var<storage, read_write> y: array<f32>;\n@compute @workgroup_size(1) fn main() { y[0] = not_declared_${tag}; }`,
    entryPoint: 'main',
    bindings: ['write'],
    workgroups: [1, 1, 1],
  };
}

describe('PipelineCache error scopes', () => {
  it('pins each error on its own kernel when a broken and a good kernel compile at once', async () => {
    for (let round = 0; round < 4; round++) {
      const good = activationForward({ kind: 'relu' }, 64 + round); // a new pipeline each round
      const bad = broken(`r${round}`);
      // Both orders: which compile pushes its scopes first must not matter.
      const [first, second] = round % 2 ? [good, bad] : [bad, good];
      const results = await Promise.allSettled([engine.pipelines.get(first), engine.pipelines.get(second)]);
      const [goodResult, badResult] = round % 2 ? results : [results[1], results[0]];
      expect(goodResult.status, `round ${round}: ${(goodResult as PromiseRejectedResult).reason}`).toBe('fulfilled');
      expect(badResult.status).toBe('rejected');
      const reason = (badResult as PromiseRejectedResult).reason as KernelError;
      expect(reason).toBeInstanceOf(KernelError);
      expect(reason.message).toContain(`broken_r${round}`);
      expect(reason.message).toContain(`not_declared_r${round}`);
    }
  });

  it('does not take the error of another GPU call made while it waits', async () => {
    const before = engine.uncapturedErrors;
    const compiling = engine.pipelines.get(activationForward({ kind: 'gelu' }, 96));
    // An invalid buffer (MAP_READ only goes with COPY_DST) made while the compile is in flight.
    const wrong = engine.device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE, label: 'not the kernel' });
    await expect(compiling).resolves.toHaveProperty('pipeline');
    await engine.device.queue.onSubmittedWorkDone();
    await new Promise((resolve) => setTimeout(resolve, 50));
    // The error went where errors outside any scope go: the engine's count and log.
    expect(engine.uncapturedErrors).toBe(before + 1);
    expect(logged.at(-1)).toMatch(/GPU error: Buffer usages/);
    wrong.destroy();
  });
});
