import { describe, expect, it } from 'vitest';
import { Autotuner, MemoryTuneStore } from '../../src/gpu/autotune.js';
import type { GpuContext } from '../../src/gpu/context.js';
import { createEngine } from '../../src/gpu/engine.js';
import type { EngineInfo } from '../../src/gpu/open_device.js';
import { conv2dBackwardFilterTuning, conv2dTuning, type Conv2dParams } from '../../src/kernels/conv2d.js';
import { matmulCandidates, matmulShapeClass, matmulTuneCandidate, type MatmulParams } from '../../src/kernels/matmul.js';
import { recordedConfigRefusal } from '../../src/kernels/recorded_configs.js';
import { DESKTOP_GPU_LIMITS } from '../helpers/matmul_cases.js';

const LARGE: MatmulParams = { batch: 1, M: 512, N: 512, K: 512, transA: false, transB: false };
const SMALL: MatmulParams = { batch: 64, M: 20, N: 30, K: 40, transA: false, transB: true };
const CONV: Conv2dParams = { input: [2, 3, 6, 5], weight: [4, 3, 3, 3], stride: [1, 1], padding: [1, 1], dilation: [1, 1], bias: false, activation: { kind: 'none' } };
/** WebGPU's compatibility-mode workgroups: 128 invocations, where the 128×128 tiles take 256. */
const COMPAT_LIMITS: EngineInfo['limits'] = { ...DESKTOP_GPU_LIMITS, maxComputeInvocationsPerWorkgroup: 128, maxComputeWorkgroupSizeX: 128, maxComputeWorkgroupSizeY: 128 };

/** A tuner on a device described by `features` and `limits` (no GPU behind it), with its log lines. */
function tunerOn(features: string[], limits: EngineInfo['limits'] = DESKTOP_GPU_LIMITS): { tuner: Autotuner; lines: string[] } {
  const info = { vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA', software: false, features, limits };
  const lines: string[] = [];
  const tuner = new Autotuner({ info } as unknown as GpuContext, true, new MemoryTuneStore(), { background: false, log: (m) => lines.push(m) });
  return { tuner, lines };
}

const candidatesOf = (p: MatmulParams) => matmulCandidates(p).map((c) => matmulTuneCandidate(p, c));

describe('adopting recorded kernel configs', () => {
  it('on a device without subgroups: keeps the usable config, drops the sg one, and says so in one log line', async () => {
    const [large, small] = [matmulShapeClass(LARGE), matmulShapeClass(SMALL)];
    // Not the class's default, so the answer below shows the record was followed.
    expect(matmulCandidates(SMALL)[0].id).not.toBe('tile32x64-k8');
    const { tuner, lines } = tunerOn([]);
    const result = tuner.adopt({ [large]: 'sg8x8-wg8x8', [small]: 'tile32x64-k8' }, recordedConfigRefusal);

    expect(result.adopted).toEqual({ [small]: 'tile32x64-k8' });
    expect(result.dropped).toHaveLength(1);
    expect(result.dropped[0]).toMatchObject({ shapeClass: large, id: 'sg8x8-wg8x8' });
    expect(result.dropped[0].reason).toMatch(/needs the device feature 'subgroups', which this device does not have/);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`webgpu-dl: 1 recorded kernel config cannot be used on this device and was dropped: ${large}: 'sg8x8-wg8x8' (`);
    expect(lines[0]).toMatch(/the resumed run is not guaranteed to compute the same bits as an uninterrupted one/);
    expect(lines[0]).not.toContain(small);

    expect(await tuner.choose(small, candidatesOf(SMALL), [4, 4, 4, 4])).toBe('tile32x64-k8');
    expect(await tuner.choose(large, candidatesOf(LARGE), [4, 4, 4, 4])).not.toBe('sg8x8-wg8x8');
  });

  it('on a device with subgroups: adopts both, logs nothing', async () => {
    const [large, small] = [matmulShapeClass(LARGE), matmulShapeClass(SMALL)];
    const { tuner, lines } = tunerOn(['subgroups']);
    const result = tuner.adopt({ [large]: 'sg8x8-wg8x8', [small]: 'tile32x64-k8' }, recordedConfigRefusal);
    expect(result).toEqual({ adopted: { [large]: 'sg8x8-wg8x8', [small]: 'tile32x64-k8' }, dropped: [] });
    expect(lines).toEqual([]);
    expect(await tuner.choose(large, candidatesOf(LARGE), [4, 4, 4, 4])).toBe('sg8x8-wg8x8');
  });

  it('drops ids and shape classes this version does not know, and configs over the limits, each with its reason', () => {
    const conv = conv2dTuning(CONV).shapeClass;
    const filter = conv2dBackwardFilterTuning(CONV).shapeClass;
    const record = {
      [matmulShapeClass(LARGE)]: 'reg9x9-wg8x8',
      [matmulShapeClass(SMALL)]: 'dbuf256x128-r8x8-k16',
      'softmax.rows64': 'wg64',
      [conv]: 'dbuf_128x128_8x8',
      [filter]: 'dbuf_split_128x128_8x8',
    };
    const { tuner, lines } = tunerOn(['subgroups'], COMPAT_LIMITS);
    const { adopted, dropped } = tuner.adopt(record, recordedConfigRefusal);
    expect(adopted).toEqual({});
    const reasons = Object.fromEntries(dropped.map((d) => [d.shapeClass, d.reason]));
    expect(reasons[matmulShapeClass(LARGE)]).toMatch(/^config unknown to this version; the family knows reg8x8-wg8x8, /);
    expect(reasons[matmulShapeClass(SMALL)]).toMatch(/needs maxComputeInvocationsPerWorkgroup 512, over this device's 128/);
    expect(reasons['softmax.rows64']).toBe('shape class of a kernel family this version does not know');
    expect(reasons[conv]).toMatch(/^conv2d_dbuf_128x128_8x8 needs maxComputeInvocationsPerWorkgroup 256, over this device's 128/);
    expect(reasons[filter]).toMatch(/^conv2d_backward_filter_dbuf_split_128x128_8x8 needs maxComputeInvocationsPerWorkgroup 256, over this device's 128/);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^webgpu-dl: 5 recorded kernel configs cannot be used on this device and were dropped: /);
  });

  it('keeps the conv configs that fit the device', () => {
    const conv = conv2dTuning(CONV).shapeClass;
    const filter = conv2dBackwardFilterTuning(CONV).shapeClass;
    const { tuner, lines } = tunerOn([], COMPAT_LIMITS);
    const result = tuner.adopt({ [conv]: 'dbuf_64x64_8x8', [filter]: 'split_8x4_4k' }, recordedConfigRefusal);
    expect(result).toEqual({ adopted: { [conv]: 'dbuf_64x64_8x8', [filter]: 'split_8x4_4k' }, dropped: [] });
    expect(lines).toEqual([]);
  });

  it("reports through the engine's log option", async () => {
    const lines: string[] = [];
    const engine = await createEngine({ autotune: true, tuneStore: new MemoryTuneStore(), log: (m) => lines.push(m) });
    try {
      const { dropped } = engine.tuner.adopt({ [matmulShapeClass(LARGE)]: 'reg9x9-wg8x8' }, recordedConfigRefusal);
      expect(dropped.map((d) => d.id)).toEqual(['reg9x9-wg8x8']);
      expect(lines.filter((l) => l.includes('recorded kernel config'))).toHaveLength(1);
    } finally {
      await engine.close();
    }
  });
});
