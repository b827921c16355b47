import { describe, expect, it } from 'vitest';
import { KernelError } from '../../src/gpu/errors.js';
import { limitRefusal, workgroupNeeds } from '../../src/gpu/tune_limits.js';
import { conv2dBackwardDataTuning, conv2dBackwardFilterTuning, conv2dParams, conv2dTuning } from '../../src/kernels/conv2d.js';
import { MATMUL_CONFIGS, matmulCandidates, matmulProgram, matmulTuneCandidate, type MatmulConfig, type MatmulParams } from '../../src/kernels/matmul.js';
import { useEngine } from '../helpers/engine.js';

const P: MatmulParams = { batch: 1, M: 300, N: 260, K: 516, transA: false, transB: false };
const specOf = (c: MatmulConfig) => matmulProgram(P, c).launches[0].spec;

/** WebGPU's guaranteed minimums, what SwiftShader offers. */
const SMALL = {
  maxStorageBufferBindingSize: 2 ** 27,
  maxBufferSize: 2 ** 28,
  maxComputeWorkgroupStorageSize: 16384,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupSizeX: 256,
  maxComputeWorkgroupSizeY: 256,
  maxComputeWorkgroupsPerDimension: 65535,
  maxStorageBuffersPerShaderStage: 8,
};
/** A desktop GPU's. */
const GPU = { ...SMALL, maxComputeWorkgroupStorageSize: 49152, maxComputeInvocationsPerWorkgroup: 1024, maxComputeWorkgroupSizeX: 1024, maxComputeWorkgroupSizeY: 1024 };

describe('workgroup needs read from the WGSL', () => {
  it('reads every matmul configuration: workgroup size from its overrides, tiles from its arrays', () => {
    for (const c of MATMUL_CONFIGS) {
      const needs = workgroupNeeds(specOf(c));
      expect(needs, c.id).toBeDefined();
      expect(needs!.size, c.id).toEqual([c.wgX, c.wgY, 1]);
      expect(needs!.invocations, c.id).toBe(c.wgX * c.wgY);
      // Tiled: two vec4 tiles of BK × (rows / 4) and BK × (cols / 4), twice when double-buffered;
      // register blocks use none.
      const copies = { registers: 0, subgroup: 0, tiled: 1, double: 2 }[c.kind];
      const tiles = copies * 16 * c.bk * ((c.wgY * c.tm) / 4 + (c.wgX * c.tn) / 4);
      expect(needs!.workgroupBytes, c.id).toBe(tiles);
    }
  });

  it('reads every convolution candidate', () => {
    const p = conv2dParams([3, 5, 13, 11], [7, 5, 3, 3], { stride: 1, padding: 1, dilation: 1 });
    const candidates = [conv2dTuning(p), conv2dBackwardDataTuning(p), conv2dBackwardFilterTuning(p)].flatMap((t) => t.candidates);
    for (const c of candidates) {
      for (const spec of [c.spec, ...(c.after ?? []).map((a) => a.spec)]) {
        const needs = workgroupNeeds(spec);
        expect(needs, spec.name).toBeDefined();
        expect(needs!.invocations, spec.name).toBeGreaterThan(0);
        expect(needs!.invocations, spec.name).toBeLessThanOrEqual(256);
      }
    }
  });

  it('takes override constants over defaults, and says when it cannot read a form', () => {
    const code = 'override WG: u32 = 64;\nconst N = WG * 2u + (3 - 1);\nvar<workgroup> a: array<vec4f, N>;\nvar<workgroup> b: array<f32, 4>;\n@compute @workgroup_size(WG, 2)\nfn main() {}';
    expect(workgroupNeeds({ code, constants: {} })).toEqual({ size: [64, 2, 1], invocations: 128, workgroupBytes: 16 * 130 + 16 });
    expect(workgroupNeeds({ code, constants: { WG: 8 } })).toEqual({ size: [8, 2, 1], invocations: 16, workgroupBytes: 16 * 18 + 16 });
    expect(workgroupNeeds({ code: 'var<workgroup> m: mat4x4f;\n@compute @workgroup_size(8)\nfn main() {}', constants: {} })).toBeUndefined();
    expect(workgroupNeeds({ code: '@compute @workgroup_size(SIZE)\nfn main() {}', constants: {} })).toBeUndefined();
  });
});

describe('candidates sized for the device', () => {
  const big: MatmulConfig = { id: 'tile128x128-k16-wg32', kind: 'tiled', tm: 4, tn: 4, wgX: 32, wgY: 32, bk: 16, splits: 1 };
  const deep: MatmulConfig = { id: 'tile64x64-k64', kind: 'tiled', tm: 4, tn: 4, wgX: 16, wgY: 16, bk: 64, splits: 1 };

  it('refuses what the limits refuse, naming the limit, and accepts it on a larger device', () => {
    expect(limitRefusal(specOf(big), SMALL)).toMatch(/maxComputeInvocationsPerWorkgroup 1024, over this device's 256/);
    expect(limitRefusal(specOf(big), GPU)).toBeUndefined();
    // 2 × 64 × 16 vec4s = 32 KiB of workgroup memory.
    expect(limitRefusal(specOf(deep), SMALL)).toMatch(/maxComputeWorkgroupStorageSize 32768, over this device's 16384/);
    expect(limitRefusal(specOf(deep), GPU)).toBeUndefined();
    // Every candidate fits a GPU's limits; on WebGPU's minimums only the GPU-sized tiles are refused.
    for (const c of matmulCandidates(P)) {
      expect(limitRefusal(specOf(c), GPU), c.id).toBeUndefined();
      const refused = limitRefusal(specOf(c), SMALL) !== undefined;
      expect(refused, c.id).toBe(c.wgX * c.wgY > 256 || workgroupNeeds(specOf(c))!.workgroupBytes > 16384);
    }
    expect(matmulCandidates(P).filter((c) => limitRefusal(specOf(c), SMALL)).map((c) => c.id)).toEqual(['dbuf128x128-r4x4-k8', 'dbuf256x128-r8x8-k16']);
  });

  describe('on this device', () => {
    const engine = useEngine({ autotune: true });

    it('agrees with pipeline creation: what it refuses fails to build, what it accepts builds', async () => {
      const limits = engine().info.limits;
      const oversized = { ...big, wgX: 1, wgY: limits.maxComputeInvocationsPerWorkgroup * 2 };
      expect(limitRefusal(specOf(oversized), limits)).toMatch(/maxComputeInvocationsPerWorkgroup|maxComputeWorkgroupSizeY/);
      await expect(engine().pipelines.get(specOf(oversized))).rejects.toThrow(KernelError);
      for (const c of matmulCandidates(P)) {
        const pipeline = engine().pipelines.get(specOf(c));
        if (limitRefusal(specOf(c), limits, engine().info.features)) await expect(pipeline, c.id).rejects.toThrow(KernelError);
        else await expect(pipeline, c.id).resolves.toBeDefined();
      }
    });

    it('never offers a candidate the device refuses, even when it is the family default', async () => {
      const limits = engine().info.limits;
      const tooBig = { ...matmulTuneCandidate(P, { ...big, wgX: 1, wgY: limits.maxComputeInvocationsPerWorkgroup * 2 }), id: 'too-big' };
      const fits = matmulTuneCandidate(P, MATMUL_CONFIGS[0]);
      const id = await engine().tuner.choose('limits-test', [tooBig, fits], [1, 1, 1, 1]);
      expect(id).toBe(fits.id);
      await expect(engine().tuner.choose('limits-test-none', [tooBig], [1, 1, 1, 1])).rejects.toThrow(/limits-test-none.*no kernel configuration fits this device.*maxComputeInvocationsPerWorkgroup/);
      engine().tuner.stop();
    });
  });
});
