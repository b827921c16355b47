import { describe, expect, it } from 'vitest';
import { Autotuner, MemoryTuneStore } from '../../src/gpu/autotune.js';
import type { GpuContext } from '../../src/gpu/context.js';
import { createEngine } from '../../src/gpu/engine.js';
import type { EngineInfo } from '../../src/gpu/open_device.js';
import { causalAttentionBackwardTuning, causalAttentionForwardTuning } from '../../src/kernels/causal_attention.js';
import { conv2dBackwardDataTuning, conv2dBackwardFilterTuning, conv2dTuning, type Conv2dParams } from '../../src/kernels/conv2d.js';
import { convTranspose2dBackwardDataTuning, convTranspose2dBackwardFilterTuning, convTranspose2dTuning, type ConvTranspose2dParams } from '../../src/kernels/conv_transpose2d.js';
import type { TuneCandidate } from '../../src/gpu/autotune.js';
import { limitRefusal } from '../../src/gpu/tune_limits.js';
import { matmulCandidates, matmulShapeClass, matmulTuneCandidate, type MatmulParams } from '../../src/kernels/matmul.js';
import { recordedConfigRefusal } from '../../src/kernels/recorded_configs.js';
import { DESKTOP_GPU_LIMITS } from '../helpers/matmul_cases.js';
import { TRANSPOSES } from '../helpers/matmul_cases.js';

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

describe('the recorded-config check against what the families offer', () => {
  /** SwiftShader-like: 256 invocations, 32 KiB of workgroup memory. */
  const SOFTWARE_LIMITS: EngineInfo['limits'] = { ...DESKTOP_GPU_LIMITS, maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256, maxComputeWorkgroupSizeY: 256, maxComputeWorkgroupStorageSize: 32768 };
  const DEVICES = [
    { features: ['subgroups'], limits: DESKTOP_GPU_LIMITS },
    { features: [], limits: SOFTWARE_LIMITS },
    { features: [], limits: COMPAT_LIMITS },
  ];

  /** Every shape class and candidate the families make for a spread of awkward shapes. */
  function offered(): { shapeClass: string; candidates: TuneCandidate[] }[] {
    const out: { shapeClass: string; candidates: TuneCandidate[] }[] = [];
    const products: [number, number, number, number][] = [[1, 1, 1, 1], [3, 19, 33, 17], [1, 70, 7, 131], [1, 16, 10, 4096], [2, 600, 520, 300], [1, 1000, 1000, 1000]];
    for (const [batch, M, N, K] of products) {
      for (const [transA, transB] of TRANSPOSES) {
        const p: MatmulParams = { batch, M, N, K, transA, transB };
        out.push({ shapeClass: matmulShapeClass(p), candidates: candidatesOf(p) });
      }
    }
    const convs: Conv2dParams[] = [CONV, { ...CONV, input: [1, 1, 28, 28], weight: [7, 1, 5, 5], stride: [2, 2], padding: [0, 0] }, { ...CONV, input: [4, 16, 9, 9], weight: [32, 16, 1, 1], bias: true }];
    for (const p of convs) out.push(conv2dTuning(p), conv2dBackwardDataTuning(p), conv2dBackwardFilterTuning(p));
    const t: ConvTranspose2dParams = { input: [2, 4, 5, 6], weight: [4, 3, 3, 3], stride: [2, 2], padding: [1, 1], outputPadding: [1, 0], dilation: [1, 1], bias: false, activation: { kind: 'none' } };
    out.push(convTranspose2dTuning(t), convTranspose2dBackwardDataTuning(t), convTranspose2dBackwardFilterTuning(t));
    for (const headDim of [1, 8, 24, 64, 128]) {
      for (const software of [false, true]) {
        const s = { batch: 2, tokens: 37, heads: 3, headDim };
        out.push(causalAttentionForwardTuning(s, 0.5, software), causalAttentionBackwardTuning(s, 0.5, software));
      }
    }
    return out;
  }

  it('accepts every candidate a family offers exactly where its own launches fit the device', () => {
    const counts = { accepted: 0, refused: 0 };
    for (const { shapeClass, candidates } of offered()) {
      for (const c of candidates) {
        for (const device of DEVICES) {
          const own = [c.spec, ...(c.after ?? []).map((a) => a.spec)].map((spec) => limitRefusal(spec, device.limits, device.features)).find(Boolean);
          const recorded = recordedConfigRefusal(shapeClass, c.id, device);
          // The candidate's own launches may differ in dispatch counts, never in what a workgroup asks.
          expect(recorded === undefined, `${shapeClass} ${c.id} on ${device.limits.maxComputeInvocationsPerWorkgroup} invocations [${device.features}]: ${recorded ?? own}`).toBe(own === undefined);
          counts[own === undefined ? 'accepted' : 'refused']++;
        }
      }
    }
    expect(counts.accepted).toBeGreaterThan(500);
    expect(counts.refused).toBeGreaterThan(50);
  });

  it('refuses an attention tile shape the family does not offer for the head dimension', () => {
    const { shapeClass } = causalAttentionForwardTuning({ batch: 1, tokens: 16, heads: 1, headDim: 8 }, 1, false);
    expect(recordedConfigRefusal(shapeClass, 's64t64b9', DEVICES[0])).toMatch(/^config unknown to this version; for head dimension 8 the family offers /);
    expect(recordedConfigRefusal('causal_attention.dh8.tx', 's64t64b9', DEVICES[0])).toBe('shape class this version cannot read');
  });
});

