import { describe, expect, it } from 'vitest';
import { launch, tensor } from '../../src/eager/tensor.js';
import { Autotuner, MemoryTuneStore } from '../../src/gpu/autotune.js';
import type { GpuContext } from '../../src/gpu/context.js';
import type { EngineInfo } from '../../src/gpu/open_device.js';
import { limitRefusal, workgroupNeeds } from '../../src/gpu/tune_limits.js';
import { matmulCandidates, matmulConfig, matmulProgram, matmulShapeClass, matmulTuneCandidate, type MatmulConfig, type MatmulParams } from '../../src/kernels/matmul.js';
import { useEngine } from '../helpers/engine.js';
import { DESKTOP_GPU_LIMITS, TRANSPOSES, matmulTol as tol, stored, transposeLabel as label } from '../helpers/matmul_cases.js';
import { expectClose } from '../helpers/compare.js';
import { uniform } from '../helpers/random.js';
import { activateAll } from '../reference/activation.js';
import { addBiasRef, matmulRef, rowSumRef } from '../reference/matmul.js';

const engine = useEngine();

/** The configurations sized for GPU limits, with what they ask of the device. */
const GPU_SIZED = [
  { id: 'dbuf128x128-r4x4-k8', size: [32, 32, 1], invocations: 1024, workgroupBytes: 16384 },
  { id: 'dbuf256x128-r8x8-k16', size: [16, 32, 1], invocations: 512, workgroupBytes: 49152 },
] as const;

const GPU_LIMITS = DESKTOP_GPU_LIMITS;

const LARGE: MatmulParams = { batch: 1, M: 1024, N: 1024, K: 1024, transA: false, transB: false };
const specOf = (p: MatmulParams, c: MatmulConfig) => matmulProgram(p, c).launches[0].spec;

function tunerOn(info: Partial<EngineInfo>): Autotuner {
  const engineInfo = { vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA', software: false, features: [], ...info };
  return new Autotuner({ info: engineInfo } as unknown as GpuContext, true, new MemoryTuneStore(), { background: false });
}

describe('candidates sized for GPU limits', () => {
  it('ask for up to 1024 invocations and 48 KiB of workgroup memory', () => {
    for (const { id, ...needs } of GPU_SIZED) expect(workgroupNeeds(specOf(LARGE, matmulConfig(id))), id).toEqual(needs);
  });

  it('are offered for large products, accepted by GPU-class limits and refused by this device', () => {
    const ids = matmulCandidates(LARGE).map((c) => c.id);
    for (const { id } of GPU_SIZED) {
      expect(ids).toContain(id);
      expect(limitRefusal(specOf(LARGE, matmulConfig(id)), GPU_LIMITS), id).toBeUndefined();
      expect(limitRefusal(specOf(LARGE, matmulConfig(id)), engine().info.limits), id).toMatch(/maxCompute(InvocationsPerWorkgroup|WorkgroupStorageSize)/);
    }
  });

  it('reach the tuner on a GPU and not on this device', async () => {
    const shapeClass = matmulShapeClass(LARGE);
    const candidates = matmulCandidates(LARGE).map((c) => matmulTuneCandidate(LARGE, c));
    for (const { id } of GPU_SIZED) {
      const gpu = tunerOn({ limits: GPU_LIMITS });
      gpu.adopt({ [shapeClass]: id });
      expect(await gpu.choose(shapeClass, candidates, [4, 4, 4, 4])).toBe(id);
      const here = tunerOn({ limits: engine().info.limits });
      here.adopt({ [shapeClass]: id });
      // The adopted id is over this device's limits: the table's choice for the class instead.
      expect(await here.choose(shapeClass, candidates, [4, 4, 4, 4])).not.toBe(id);
    }
  });
});

/**
 * The same WGSL at workgroup sizes this device accepts: tile sizes are override constants, so
 * each code path (vec4 and scalar loads, every transposition, tile edges, K tails, epilogues,
 * row sums) runs here with fewer invocations than a GPU would use.
 */
describe('GPU-sized code paths at smaller workgroups', () => {
  for (const { id } of GPU_SIZED) {
    const full = matmulConfig(id);
    const small: MatmulConfig = { ...full, wgX: 8, wgY: 4 };

    it(`${id} at 8×4 invocations is the same WGSL with other overrides`, () => {
      const [a, b] = [specOf(LARGE, full), specOf(LARGE, small)];
      expect(b.code).toBe(a.code);
      expect(b.constants).toEqual({ ...a.constants, WG_X: 8, WG_Y: 4 });
      expect(limitRefusal(b, engine().info.limits)).toBeUndefined();
    });

    // Half the transpositions unaligned (scalar loads, K tail, bias + leaky_relu), half aligned and
    // batched (vec4 loads, tanh-gradient prologue, row sums), the halves swapped between the two
    // configurations: every pairing is compiled once (each variant compiles for many seconds here).
    TRANSPOSES.forEach(([transA, transB], i) => {
      if ((i + GPU_SIZED.findIndex((g) => g.id === id)) % 2 === 0) {
        it(`${id} ${label(transA, transB)} 1×1×1 and unaligned, bias + leaky_relu`, async () => {
          const e = engine();
          for (const [M, N, K] of [
            [1, 1, 1],
            [45, 37, 83],
          ] as const) {
            const p: MatmulParams = { batch: 1, M, N, K, transA, transB, bias: true, activation: { kind: 'leaky_relu', alpha: 0.1 } };
            const a = uniform(M * K, 10 + i + M);
            const b = uniform(K * N, 20 + i + N);
            const bias = uniform(N, 30 + i);
            const inputs = [tensor(e, a, stored(M, K, transA)), tensor(e, b, stored(K, N, transB)), tensor(e, bias, [N])];
            const [c] = launch(matmulProgram(p, small), inputs, [{ shape: [M, N] }]);
            const want = activateAll('leaky_relu', addBiasRef(matmulRef(p, a, b), bias), 0.1);
            expectClose(await c.read(), want, tol(K), `${id} ${M}×${N}×${K}`);
            for (const t of [...inputs, c]) t.dispose();
          }
        });
        return;
      }
      it(`${id} ${label(transA, transB)} aligned, batched, tanh-gradient prologue, row sums`, async () => {
        const e = engine();
        const [batch, M, N, K] = [2, 68, 36, 52];
        const p: MatmulParams = { batch, M, N, K, transA, transB, prologue: { kind: 'tanh' }, rowSumA: true };
        const a = uniform(batch * M * K, 40 + i);
        const b = uniform(batch * K * N, 50 + i);
        const saved = uniform(batch * M * N, 60 + i, -0.9, 0.9);
        const inputs = [tensor(e, a, [batch, ...stored(M, K, transA)]), tensor(e, b, [batch, ...stored(K, N, transB)]), tensor(e, saved, [batch, M, N])];
        const [c, rowSum] = launch(matmulProgram(p, small), inputs, [{ shape: [batch, M, N] }, { shape: [batch, M] }]);
        const product = matmulRef(p, a, b);
        expectClose(await c.read(), product.map((v, k) => v * (1 - saved[k] * saved[k])), tol(K), `${id} C`);
        expectClose(await rowSum.read(), rowSumRef(p, a), tol(K), `${id} row sums`);
        for (const t of [...inputs, c, rowSum]) t.dispose();
      });
    });
  }

  it('leaves no buffers alive', async () => {
    await engine().sync();
    expect(engine().stats.liveBuffers).toBe(0);
  });
});
