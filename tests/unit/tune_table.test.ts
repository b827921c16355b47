import { describe, expect, it } from 'vitest';
import { Autotuner, MemoryTuneStore, type TuneCandidate } from '../../src/gpu/autotune.js';
import type { GpuContext } from '../../src/gpu/context.js';
import type { EngineInfo } from '../../src/gpu/open_device.js';
import { TUNE_TABLE, adapterClass, tableChoice } from '../../src/gpu/tune_table.js';
import { MATMUL_CONFIGS, matmulCandidates, matmulShapeClass, matmulTuneCandidate, type MatmulParams } from '../../src/kernels/matmul.js';

const LIMITS: EngineInfo['limits'] = {
  maxStorageBufferBindingSize: 2 ** 31,
  maxBufferSize: 2 ** 31,
  maxComputeWorkgroupStorageSize: 49152,
  maxComputeInvocationsPerWorkgroup: 1024,
  maxComputeWorkgroupSizeX: 1024,
  maxComputeWorkgroupSizeY: 1024,
  maxComputeWorkgroupsPerDimension: 65535,
  maxStorageBuffersPerShaderStage: 10,
};

/** Adapter info as WebGPU reports it on these machines. */
const ADAPTERS: Record<string, Omit<EngineInfo, 'features' | 'limits'>> = {
  h200: { vendor: 'nvidia', architecture: 'hopper', device: '0x2335', description: 'NVIDIA H200', software: false },
  swiftshader: { vendor: 'google', architecture: 'swiftshader', device: 'swiftshader-device-subzero-', description: 'SwiftShader driver 5.0.0', software: true },
  radeon: { vendor: 'amd', architecture: 'rdna-3', device: '', description: 'AMD Radeon RX 7900', software: false },
  iris: { vendor: 'intel', architecture: 'gen-12lp', device: '', description: 'Intel(R) Iris(R) Xe Graphics', software: false },
  m2: { vendor: 'apple', architecture: 'metal-3', device: '', description: '', software: false },
  unknown: { vendor: '', architecture: '', device: '', description: '', software: false },
};

/** An engine as far as the autotuner's choice looks: adapter info only (choose never touches the GPU). */
function fakeEngine(name: keyof typeof ADAPTERS): GpuContext {
  return { info: { ...ADAPTERS[name], features: [], limits: LIMITS } } as unknown as GpuContext;
}

const LARGE: MatmulParams = { batch: 1, M: 1024, N: 1024, K: 1024, transA: false, transB: false };
const candidatesOf = (p: MatmulParams): TuneCandidate[] => matmulCandidates(p).map((c) => matmulTuneCandidate(p, c));

describe('adapter classes', () => {
  it('sorts adapters by vendor, SwiftShader first whatever its vendor says', () => {
    expect(adapterClass(ADAPTERS.h200)).toBe('nvidia');
    expect(adapterClass(ADAPTERS.swiftshader)).toBe('swiftshader');
    expect(adapterClass({ ...ADAPTERS.swiftshader, software: false })).toBe('swiftshader');
    expect(adapterClass(ADAPTERS.radeon)).toBe('amd');
    expect(adapterClass(ADAPTERS.iris)).toBe('intel');
    expect(adapterClass(ADAPTERS.m2)).toBe('apple');
    expect(adapterClass(ADAPTERS.unknown)).toBe('other');
  });
});

describe('the shipped table', () => {
  it('names only configurations the kernel families know', () => {
    const known = new Set<string>([...MATMUL_CONFIGS.map((c) => c.id), 'direct_4x4', 'direct_8x4', 'tiled_32x32']);
    for (const rules of Object.values(TUNE_TABLE)) for (const rule of rules) for (const id of rule.prefer) expect(known, id).toContain(id);
  });

  it('prefers workgroup tiles for a large product on a GPU, and leaves SwiftShader on the family default', () => {
    const ids = matmulCandidates(LARGE).map((c) => c.id);
    const shapeClass = matmulShapeClass(LARGE);
    expect(ids[0]).toBe('reg8x8-wg8x8');
    expect(tableChoice('nvidia', shapeClass, ids)).toBe('dbuf128x128-r8x8-k8');
    expect(tableChoice('swiftshader', shapeClass, ids)).toBeUndefined();
    expect(tableChoice('other', shapeClass, ids)).toBeUndefined();
    // A preferred id that is not among the candidates (refused by the limits, say) falls through.
    expect(tableChoice('nvidia', shapeClass, ids.filter((id) => !id.startsWith('dbuf128')))).toBe('tile64x64-k16');
    expect(tableChoice('nvidia', shapeClass, ids.filter((id) => !id.startsWith('dbuf128') && !id.startsWith('tile64')))).toBe('tile32x64-k8');
  });

  it('starts the long reduction of the CNN layer on a split double-buffered tile, falling back to split register blocks', () => {
    const forward: MatmulParams = { batch: 1, M: 64, N: 128, K: 9216, transA: false, transB: true };
    const choice = (p: MatmulParams) => tableChoice('nvidia', matmulShapeClass(p), matmulCandidates(p).map((c) => c.id));
    expect(choice(forward)).toBe('dbuf64x64-r8x8-k8-split32');
    // K = 1024 leaves 32 chunks under 64 terms each: that split is not offered.
    expect(choice({ ...forward, K: 1024 })).toBe('reg4x4-wg16x4-split16');
  });

  it('starts small outputs on subgroup quads only where the device has subgroups', async () => {
    const small: MatmulParams = { batch: 1, M: 1000, N: 100, K: 100, transA: false, transB: false };
    const ids = matmulCandidates(small).map((c) => c.id);
    expect(tableChoice('nvidia', matmulShapeClass(small), ids.filter((id) => id !== 'tile32x64-k8'))).toBe('sg4x4-wg16x4');
    // The fake GPU has no features: the tuner never sees the subgroup candidates, and falls through.
    const tuner = new Autotuner(fakeEngine('h200'), false, new MemoryTuneStore());
    const candidates = candidatesOf(small).filter((c) => c.id !== 'tile32x64-k8');
    expect(await tuner.choose(matmulShapeClass(small), candidates, [4, 4, 4, 4])).toBe('reg4x4-wg16x4');
    expect(tableChoice('nvidia', 'softmax|rows', ['a', 'b'])).toBeUndefined();
  });
});

describe('a compile on an untuned adapter starts from the table', () => {
  it('answers at once with the table for a known adapter class and queues the shape for timing', async () => {
    const tuner = new Autotuner(fakeEngine('h200'), true, new MemoryTuneStore());
    const id = await tuner.choose(matmulShapeClass(LARGE), candidatesOf(LARGE), [4, 4, 4, 4]);
    expect(id).toBe('dbuf128x128-r8x8-k8');
    expect(tuner.pending).toBe(1);
    expect(tuner.choices).toEqual({ [matmulShapeClass(LARGE)]: 'dbuf128x128-r8x8-k8' });
  });

  it('takes a measured winner from the store over the table', async () => {
    const store = new MemoryTuneStore();
    const tuner = new Autotuner(fakeEngine('h200'), true, store);
    const i = ADAPTERS.h200;
    store.set(`${i.vendor}/${i.architecture}/${i.device}/${i.description}|${matmulShapeClass(LARGE)}`, 'reg4x8-wg8x8');
    expect(await tuner.choose(matmulShapeClass(LARGE), candidatesOf(LARGE), [4, 4, 4, 4])).toBe('reg4x8-wg8x8');
    expect(tuner.pending).toBe(0);
  });

  it('uses the family default where the table has no rule, and the table with tuning off too', async () => {
    const swiftshader = new Autotuner(fakeEngine('swiftshader'), true, new MemoryTuneStore());
    expect(await swiftshader.choose(matmulShapeClass(LARGE), candidatesOf(LARGE), [4, 4, 4, 4])).toBe('reg8x8-wg8x8');
    const off = new Autotuner(fakeEngine('h200'), false, new MemoryTuneStore());
    expect(await off.choose(matmulShapeClass(LARGE), candidatesOf(LARGE), [4, 4, 4, 4])).toBe('dbuf128x128-r8x8-k8');
    expect(off.pending).toBe(0);
  });
});
