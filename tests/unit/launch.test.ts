import { describe, expect, it } from 'vitest';
import { KernelError } from '../../src/gpu/errors.js';
import type { KernelSpec } from '../../src/gpu/kernel_spec.js';
import { encodeLaunch, makeLaunch } from '../../src/gpu/launch.js';
import { scaleSpec } from '../../src/kernels/elementwise.js';
import { useEngine } from '../helpers/engine.js';

const engine = useEngine();

/** Runs `record` in one compute pass, submitted alone. */
function submitPass(record: (pass: GPUComputePassEncoder) => void): void {
  const encoder = engine().device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  record(pass);
  pass.end();
  engine().device.queue.submit([encoder.finish()]);
}

describe('makeLaunch', () => {
  it('binds the storage buffers in order around the uniform buffer it writes, ranges at their offsets', async () => {
    // An odd length over several workgroups, read from a range that starts 256 bytes in.
    const n = 1001;
    const offset = 256;
    const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 3);
    const input = engine().createStorage(offset + n * 4, 'x');
    const output = engine().createStorage(n * 4, 'y');
    engine().upload(input, new Float32Array(offset / 4).fill(Number.NaN));
    engine().upload(input, x, offset);
    const owned: GPUBuffer[] = [];
    const launch = await makeLaunch(engine(), scaleSpec(n, 2.5, -0.75), [{ buffer: input, offset, size: n * 4 }, output], owned);
    expect(owned).toEqual([launch.uniform]);
    expect(launch.name).toBe('scale');

    submitPass((pass) => encodeLaunch(pass, launch));
    const y = new Float32Array(await engine().readBytes(output, n * 4));
    const worst = Math.max(...Array.from(y, (v, i) => Math.abs(v - (x[i] * 2.5 - 0.75))));
    expect(worst).toBeLessThan(1e-5);

    // The uniform buffer is the launch's to rewrite: the next run sees the new scale.
    engine().device.queue.writeBuffer(launch.uniform!, 0, scaleSpec(n, -1, 0).uniforms!);
    submitPass((pass) => encodeLaunch(pass, launch));
    const z = new Float32Array(await engine().readBytes(output, n * 4));
    expect(Math.max(...Array.from(z, (v, i) => Math.abs(v + x[i])))).toBeLessThan(1e-6);
    for (const b of [input, output, ...owned]) engine().buffers.destroy(b);
  });

  it('refuses a wrong number of buffers with a KernelError naming the kernel, making nothing', async () => {
    const only = engine().createStorage(16, 'only');
    const before = engine().stats.liveBuffers;
    const owned: GPUBuffer[] = [];
    const error = await makeLaunch(engine(), scaleSpec(4, 1), [only], owned).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KernelError);
    expect(String((error as Error).message)).toMatch(/kernel 'scale': expects 2 storage buffers, got 1/);
    expect(owned).toEqual([]);
    expect(engine().stats.liveBuffers).toBe(before);
    engine().buffers.destroy(only);
  });
});

describe('an eager launch', () => {
  it('whose pipeline cannot be made leaves no uniform buffer behind', async () => {
    const bad: KernelSpec = {
      name: 'missing_entry_with_uniforms',
      code: '@group(0) @binding(0) var<uniform> u: vec4u;\n@compute @workgroup_size(1) fn main() { _ = u.x; }',
      entryPoint: 'not_there',
      bindings: ['uniform'],
      workgroups: [1, 1, 1],
      uniforms: new ArrayBuffer(16),
    };
    const before = engine().stats.liveBuffers;
    engine().dispatch(bad, []);
    await expect(engine().flush()).rejects.toThrow(/kernel 'missing_entry_with_uniforms'/);
    expect(engine().stats.liveBuffers).toBe(before);
  });

  it('ends with every buffer released', () => {
    expect(engine().stats.liveBuffers).toBe(0);
  });
});
