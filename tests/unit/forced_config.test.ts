import { describe, expect, it } from 'vitest';
import { conv2d, conv2dBackwardData, conv2dBackwardFilter } from '../../src/eager/conv2d.js';
import { convTranspose2d, convTranspose2dBackwardData, convTranspose2dBackwardFilter } from '../../src/eager/conv_transpose2d.js';
import { KernelConfigError } from '../../src/eager/forced_config.js';
import { matmul } from '../../src/eager/matmul.js';
import { tensor, type Tensor } from '../../src/eager/tensor.js';
import { KernelConfigError as GpuKernelConfigError, KernelError } from '../../src/gpu/errors.js';
import { CONV_FILTER_CONFIGS, type ConvFilterConfig } from '../../src/kernels/conv2d_backward_filter.js';
import { conv2dBackwardDataProgram, conv2dBackwardFilterProgram, conv2dProgram, type Conv2dParams } from '../../src/kernels/conv2d.js';
import { CONV_GEMM_CONFIGS, type ConvGemmConfig } from '../../src/kernels/conv2d_gemm.js';
import { convTranspose2dProgram, type ConvTranspose2dParams } from '../../src/kernels/conv_transpose2d.js';
import type { EngineInfo } from '../../src/gpu/open_device.js';
import { MATMUL_CONFIGS, matmulCandidates, matmulConfig } from '../../src/kernels/matmul.js';
import { expectClose } from '../helpers/compare.js';
import { useEngine } from '../helpers/engine.js';
import { matmulTol } from '../helpers/matmul_cases.js';
import { uniform } from '../helpers/random.js';
import { matmulRef } from '../reference/matmul.js';

const engine = useEngine();

/** Runs `work` with the engine describing itself as `patch` says (features, limits), as another device would. */
function asDevice<T>(patch: Partial<EngineInfo>, work: () => T): T {
  const e = engine();
  const real = e.info;
  e.info = { ...real, ...patch };
  try {
    return work();
  } finally {
    e.info = real;
  }
}

/** The error `work` throws at once (not from a later read), with the live buffers it left. */
function refusal(work: () => unknown): { error: KernelConfigError; leftBuffers: number } {
  const before = engine().stats.liveBuffers;
  let thrown: unknown;
  try {
    work();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(KernelConfigError);
  return { error: thrown as KernelConfigError, leftBuffers: engine().stats.liveBuffers - before };
}

const [M, N, K] = [19, 33, 17];
const SUBGROUP_IDS = MATMUL_CONFIGS.filter((c) => c.kind === 'subgroup').map((c) => c.id);

describe('a matmul config forced by id', () => {
  it('of the subgroup kind, on a device without `subgroups`, is refused at the call: id, op, feature and fix named, nothing made', () => {
    const e = engine();
    const [a, b] = [tensor(e, uniform(M * K, 1), [M, K]), tensor(e, uniform(K * N, 2), [K, N])];
    expect(SUBGROUP_IDS).toHaveLength(3);
    for (const id of SUBGROUP_IDS) {
      const { error, leftBuffers } = asDevice({ features: [] }, () => refusal(() => matmul(a, b, { config: id })));
      expect(leftBuffers, id).toBe(0);
      expect(error).toBeInstanceOf(KernelError);
      expect([error.name, error.op, error.config]).toEqual(['KernelConfigError', 'matmul', id]);
      expect(error.message).toMatch(new RegExp(`^kernel 'matmul_nn_${id}': matmul config '${id}' cannot run on this device: .*needs the device feature 'subgroups', which this device does not have\\. Fix: pick a config this device runs \\(reg`));
      expect(error.message).toMatch(/or leave out `config` to let the autotuner choose/);
      // The suggestions are this product's candidates, none of them needing the missing feature.
      const suggested = /runs \(([^)]*)\)/.exec(error.message)![1].split(', ');
      expect(suggested.length).toBeGreaterThan(0);
      for (const other of suggested) expect(matmulCandidates({ batch: 1, M, N, K, transA: false, transB: false }).map((c) => c.id)).toContain(other);
      expect(suggested.filter((other) => other.startsWith('sg'))).toEqual([]);
    }
    a.dispose();
    b.dispose();
  });

  it('of the subgroup kind runs where the device has the feature (the check refuses only what is missing)', async () => {
    const e = engine();
    expect(e.info.features).toContain('subgroups');
    const [av, bv] = [uniform(M * K, 3), uniform(K * N, 4)];
    const [a, b] = [tensor(e, av, [M, K]), tensor(e, bv, [K, N])];
    const c = matmul(a, b, { config: 'sg4x4-wg16x4' });
    expectClose(await c.read(), matmulRef({ batch: 1, M, N, K, transA: false, transB: false }, av, bv), matmulTol(K), 'sg4x4-wg16x4');
    for (const t of [a, b, c]) t.dispose();
  });

  it("sized for GPU limits is refused on this device's own limits, naming the limit, its value and the kernel's need", () => {
    const e = engine();
    const [a, b] = [tensor(e, uniform(M * K, 5), [M, K]), tensor(e, uniform(K * N, 6), [K, N])];
    const limit = e.info.limits.maxComputeInvocationsPerWorkgroup;
    // 16×32 invocations and 48 KiB of workgroup memory: over SwiftShader's 256 and 32 KiB.
    expect(limit).toBeLessThan(512);
    const { error, leftBuffers } = refusal(() => matmul(a, b, { config: 'dbuf256x128-r8x8-k16' }));
    expect(leftBuffers).toBe(0);
    expect(error.message).toContain(`matmul config 'dbuf256x128-r8x8-k16' cannot run on this device: matmul_nn_dbuf256x128-r8x8-k16 needs maxComputeInvocationsPerWorkgroup 512, over this device's ${limit}`);
    a.dispose();
    b.dispose();
  });

  it('that the family does not know is refused with the ids it knows', () => {
    const e = engine();
    const [a, b] = [tensor(e, uniform(4, 7), [2, 2]), tensor(e, uniform(4, 8), [2, 2])];
    const { error } = refusal(() => matmul(a, b, { config: 'reg9x9-wg8x8' }));
    expect(error.message).toMatch(/^kernel 'matmul': matmul has no config 'reg9x9-wg8x8'; pick one of reg8x8-wg8x8, .*sg8x8-wg8x8.*, or leave out `config`/);
    a.dispose();
    b.dispose();
  });
});

describe('a convolution config forced by id', () => {
  // WebGPU's compatibility-mode limits: 128 invocations, where the 128×128 tiles take 256.
  const COMPAT = { maxComputeInvocationsPerWorkgroup: 128, maxComputeWorkgroupSizeX: 128, maxComputeWorkgroupSizeY: 128 };
  const x = () => tensor(engine(), uniform(2 * 3 * 6 * 5, 9), [2, 3, 6, 5]);
  const w = () => tensor(engine(), uniform(4 * 3 * 3 * 3, 10), [4, 3, 3, 3]);
  const wt = () => tensor(engine(), uniform(3 * 4 * 3 * 3, 11), [3, 4, 3, 3]);
  const dy = () => tensor(engine(), uniform(2 * 4 * 4 * 3, 12), [2, 4, 4, 3]);
  const dyt = () => tensor(engine(), uniform(2 * 4 * 8 * 7, 13), [2, 4, 8, 7]);
  const cases: [string, string, () => Tensor[], (t: Tensor[]) => unknown][] = [
    ['conv2d', 'dbuf_128x128_8x8', () => [x(), w()], ([a, b]) => conv2d(a, b, { config: 'dbuf_128x128_8x8' })],
    ['conv2d_backward_data', 'dbuf_128x128_8x8', () => [dy(), w()], ([a, b]) => conv2dBackwardData(a, b, [2, 3, 6, 5], { config: 'dbuf_128x128_8x8' })],
    ['conv2d_backward_filter', 'dbuf_split_128x128_8x8', () => [x(), dy()], ([a, b]) => conv2dBackwardFilter(a, b, [4, 3, 3, 3], { config: 'dbuf_split_128x128_8x8' })],
    ['conv_transpose2d', 'dbuf_128x128_8x8', () => [x(), wt()], ([a, b]) => convTranspose2d(a, b, { config: 'dbuf_128x128_8x8' })],
    ['conv_transpose2d_backward_data', 'dbuf_128x128_8x8', () => [dyt(), wt()], ([a, b]) => convTranspose2dBackwardData(a, b, [2, 3, 6, 5], { config: 'dbuf_128x128_8x8' })],
    ['conv_transpose2d_backward_filter', 'dbuf_split_128x128_8x8', () => [x(), dyt()], ([a, b]) => convTranspose2dBackwardFilter(a, b, [3, 4, 3, 3], { bias: true, config: 'dbuf_split_128x128_8x8' })],
  ];

  for (const [op, id, inputs, run] of cases) {
    it(`${op}: ${id} on a device of 128 invocations is refused at the call, with the ids that fit`, () => {
      const operands = inputs();
      const { error, leftBuffers } = asDevice({ limits: { ...engine().info.limits, ...COMPAT } }, () => refusal(() => run(operands)));
      expect(leftBuffers).toBe(0);
      expect([error.op, error.config]).toEqual([op, id]);
      expect(error.message).toMatch(new RegExp(`${op} config '${id}' cannot run on this device: \\w+ needs maxComputeInvocationsPerWorkgroup 256, over this device's 128\\. Fix: pick a config this device runs \\(.*64x64_8x8.*\\), or leave out`));
      expect(error.message).not.toMatch(/runs \([^)]*128x128/);
      for (const t of operands) t.dispose();
    });
  }

  it('unknown ids are refused too (a JavaScript caller is not stopped by the type)', () => {
    const [a, b] = [x(), w()];
    const { error } = refusal(() => conv2d(a, b, { config: 'direct_2x2' as 'direct_4x4' }));
    expect(error.message).toMatch(/conv2d has no config 'direct_2x2'; pick one of direct_4x4, direct_8x4, tiled_32x32, dbuf_128x128_8x8, dbuf_64x64_8x8, or leave out/);
    a.dispose();
    b.dispose();
  });

  it('leaves no buffers alive', async () => {
    await engine().sync();
    expect(engine().stats.liveBuffers).toBe(0);
  });
});

describe('a kernel family looking a config up by id', () => {
  const params: Conv2dParams = { input: [2, 3, 6, 5], weight: [4, 3, 3, 3], stride: [1, 1], padding: [1, 1], dilation: [1, 1], bias: false, activation: { kind: 'none' } };
  const transposed: ConvTranspose2dParams = { ...params, weight: [3, 4, 3, 3], outputPadding: [0, 0] };

  /** The error `lookup` throws, checked to be the typed one. */
  function thrownBy(lookup: () => unknown): KernelConfigError {
    const { error } = refusal(lookup);
    expect(error).toBeInstanceOf(GpuKernelConfigError);
    return error;
  }

  it('matmul: an unknown id is a KernelConfigError naming the id and every id the family knows', () => {
    const error = thrownBy(() => matmulConfig('reg9x9-wg8x8'));
    expect([error.name, error.op, error.config]).toEqual(['KernelConfigError', 'matmul', 'reg9x9-wg8x8']);
    expect(error.message).toBe(`kernel 'matmul': matmul has no config 'reg9x9-wg8x8'; use one of ${MATMUL_CONFIGS.map((c) => c.id).join(', ')}`);
  });

  const convCases: [string, () => unknown][] = [
    ['conv2d', () => conv2dProgram(params, 'direct_2x2' as ConvGemmConfig)],
    ['conv2d_backward_data', () => conv2dBackwardDataProgram(params, 'direct_2x2' as ConvGemmConfig)],
    ['conv_transpose2d', () => convTranspose2dProgram(transposed, 'direct_2x2' as ConvGemmConfig)],
  ];
  for (const [op, lookup] of convCases) {
    it(`${op}: an unknown id is a KernelConfigError, not a TypeError from the block table`, () => {
      const error = thrownBy(lookup);
      expect([error.op, error.config]).toEqual([op, 'direct_2x2']);
      expect(error.message).toBe(`kernel '${op}': ${op} has no config 'direct_2x2'; use one of ${CONV_GEMM_CONFIGS.join(', ')}`);
    });
  }

  it('conv2d_backward_filter: an unknown id is a KernelConfigError naming the filter configs', () => {
    const error = thrownBy(() => conv2dBackwardFilterProgram(params, 'split_2x2_4k' as ConvFilterConfig));
    expect([error.op, error.config]).toEqual(['conv2d_backward_filter', 'split_2x2_4k']);
    expect(error.message).toBe(`kernel 'conv2d_backward_filter': conv2d_backward_filter has no config 'split_2x2_4k'; use one of ${CONV_FILTER_CONFIGS.join(', ')}`);
  });
});
