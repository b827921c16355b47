import { describe, expect, it } from 'vitest';
import { limitRefusal, workgroupNeeds } from '../../src/gpu/tune_limits.js';
import { MATMUL_CONFIGS, matmulCandidates, matmulProgram, type MatmulParams } from '../../src/kernels/matmul.js';
import { useEngine } from '../helpers/engine.js';
import { forcedMatmulCases } from '../helpers/matmul_cases.js';

const engine = useEngine();

/**
 * The double-buffered tiles at their own sizes, unsplit and within WebGPU's default limits. The
 * split-K ones run in matmul_configs.test.ts, those sized for GPU limits at smaller workgroups in
 * matmul_gpu_limits.test.ts.
 */
const DOUBLE = MATMUL_CONFIGS.filter((c) => c.kind === 'double' && c.splits === 1 && c.wgX * c.wgY <= 256);

/** WebGPU compatibility mode's workgroup limits: 128 invocations, 16 KiB. */
const COMPAT = {
  maxStorageBufferBindingSize: 2 ** 27,
  maxBufferSize: 2 ** 28,
  maxComputeWorkgroupStorageSize: 16384,
  maxComputeInvocationsPerWorkgroup: 128,
  maxComputeWorkgroupSizeX: 128,
  maxComputeWorkgroupSizeY: 128,
  maxComputeWorkgroupsPerDimension: 65535,
  maxStorageBuffersPerShaderStage: 8,
};
const DESKTOP = { ...COMPAT, maxComputeWorkgroupStorageSize: 49152, maxComputeInvocationsPerWorkgroup: 1024, maxComputeWorkgroupSizeX: 1024, maxComputeWorkgroupSizeY: 1024 };

describe('double-buffered matmul configurations, forced', () => {
  it('exist at a GPU size (128×128 tile, 256 invocations of 8×8) and a smaller one', () => {
    expect(DOUBLE.map((c) => c.id).sort()).toEqual(['dbuf128x128-r8x8-k8', 'dbuf64x64-r8x8-k8']);
    const others = MATMUL_CONFIGS.filter((c) => c.kind === 'double' && !DOUBLE.includes(c)).map((c) => c.id);
    expect(others.sort()).toEqual(['dbuf128x128-r4x4-k8', 'dbuf256x128-r8x8-k16', 'dbuf64x64-r8x8-k8-split32', 'dbuf64x64-r8x8-k8-split8']);
  });

  for (const config of DOUBLE) {
    // 1×1×1: a single element in a 64- or 128-wide tile; the others cross tile edges in every
    // direction, with K not a multiple of the K step nor of 4 (scalar loads, zero-filled tiles).
    forcedMatmulCases(engine, config, {
      shapes: [
        [1, 1, 1],
        [65, 33, 17],
        [130, 7, 129],
      ],
      aligned: [2, 68, 132, 36],
    });
  }

  it('leaves no buffers alive', async () => {
    await engine().sync();
    expect(engine().stats.liveBuffers).toBe(0);
  });
});

describe('double-buffered configurations and device limits', () => {
  const LARGE: MatmulParams = { batch: 1, M: 512, N: 512, K: 512, transA: false, transB: false };
  const specOf = (id: string) => matmulProgram(LARGE, DOUBLE.find((c) => c.id === id)!).launches[0].spec;

  it('are offered to the tuner for large products', () => {
    const ids = matmulCandidates(LARGE).map((c) => c.id);
    expect(ids).toContain('dbuf128x128-r8x8-k8');
    expect(ids).toContain('dbuf64x64-r8x8-k8');
  });

  it('declare two tiles per operand, which the limits reader counts', () => {
    // 2 tiles × (BM + BN) / 4 vec4s × BK rows × 16 bytes.
    expect(workgroupNeeds(specOf('dbuf128x128-r8x8-k8'))).toEqual({ size: [16, 16, 1], invocations: 256, workgroupBytes: 16384 });
    expect(workgroupNeeds(specOf('dbuf64x64-r8x8-k8'))).toEqual({ size: [8, 8, 1], invocations: 64, workgroupBytes: 8192 });
  });

  it('refuses the GPU size on a device with smaller limits and keeps the small one', () => {
    expect(limitRefusal(specOf('dbuf128x128-r8x8-k8'), COMPAT)).toMatch(/maxComputeInvocationsPerWorkgroup 256, over this device's 128/);
    expect(limitRefusal(specOf('dbuf128x128-r8x8-k8'), { ...DESKTOP, maxComputeWorkgroupStorageSize: 8192 })).toMatch(
      /maxComputeWorkgroupStorageSize 16384, over this device's 8192/,
    );
    expect(limitRefusal(specOf('dbuf64x64-r8x8-k8'), COMPAT)).toBeUndefined();
    for (const c of DOUBLE) expect(limitRefusal(specOf(c.id), DESKTOP), c.id).toBeUndefined();
  });
});
