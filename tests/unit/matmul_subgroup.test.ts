import { describe, expect, it } from 'vitest';
import { launch, tensor } from '../../src/eager/tensor.js';
import { Autotuner, MemoryTuneStore } from '../../src/gpu/autotune.js';
import type { GpuContext } from '../../src/gpu/context.js';
import { limitRefusal, requiredFeatures } from '../../src/gpu/tune_limits.js';
import { MATMUL_CONFIGS, matmulCandidates, matmulConfig, matmulProgram, matmulShapeClass, matmulTuneCandidate, type MatmulParams } from '../../src/kernels/matmul.js';
import { useEngine } from '../helpers/engine.js';
import { TRANSPOSES, forcedMatmulCases, matmulTol as tol, stored, transposeLabel as label } from '../helpers/matmul_cases.js';
import { expectClose } from '../helpers/compare.js';
import { uniform } from '../helpers/random.js';
import { matmulRef } from '../reference/matmul.js';

const engine = useEngine();

const SUBGROUP = MATMUL_CONFIGS.filter((c) => c.kind === 'subgroup');

describe('this device', () => {
  it('has subgroups, requested at device open and recorded with the sizes the adapter reports', () => {
    // Dawn's SwiftShader offers the feature (subgroups of 4); the kernels here need it.
    const info = engine().info;
    expect(info.features).toContain('subgroups');
    expect(info.subgroupSizes).toBeDefined();
    const { min, max } = info.subgroupSizes!;
    expect(min).toBeGreaterThanOrEqual(4);
    expect(max).toBeGreaterThanOrEqual(min);
  });
});

describe('subgroup matmul configurations, forced', () => {
  it('exist, each enabling the subgroups extension', () => {
    expect(SUBGROUP.map((c) => c.id).sort()).toEqual(['sg4x4-wg16x4', 'sg4x4-wg16x4-split16', 'sg8x8-wg8x8']);
    const p: MatmulParams = { batch: 1, M: 9, N: 9, K: 9, transA: false, transB: false };
    for (const c of SUBGROUP) expect(requiredFeatures(matmulProgram(p, c).launches[0].spec.code)).toEqual(['subgroups']);
  });

  for (const config of SUBGROUP) {
    // 1×1×1 leaves three of a quad's four blocks (and most of the workgroup) past the edges; the
    // others cross block and workgroup edges with K not a multiple of 4 (scalar loads, K tail).
    forcedMatmulCases(engine, config, {
      shapes: [
        [1, 1, 1],
        [19, 33, 17],
        [70, 7, 131],
      ],
      aligned: [2, 36, 68, 132],
    });
  }

  // SHARE = false: every invocation loads all its fragments, the path a subgroup takes when its
  // quads are not the kernel's (a layout this device never produces).
  TRANSPOSES.forEach(([transA, transB], i) => {
    for (const aligned of [false, true]) {
      it(`sg8x8-wg8x8 ${label(transA, transB)} with the quad swaps off (direct loads), ${aligned ? 'aligned' : 'unaligned'}`, async () => {
        const e = engine();
        const [M, N, K] = aligned ? [36, 68, 44] : [21, 13, 23];
        const p: MatmulParams = { batch: 1, M, N, K, transA, transB };
        const a = uniform(M * K, 90 + i);
        const b = uniform(K * N, 95 + i);
        const program = matmulProgram(p, matmulConfig('sg8x8-wg8x8'));
        const spec = program.launches[0].spec;
        const direct = { ...program, launches: [{ ...program.launches[0], spec: { ...spec, constants: { ...spec.constants, SHARE: 0 } } }] };
        const [ta, tb] = [tensor(e, a, stored(M, K, transA)), tensor(e, b, stored(K, N, transB))];
        const [c] = launch(direct, [ta, tb], [{ shape: [M, N] }]);
        expectClose(await c.read(), matmulRef(p, a, b), tol(K), 'direct loads');
        for (const t of [ta, tb, c]) t.dispose();
      });
    }
  });

  it('leaves no buffers alive', async () => {
    await engine().sync();
    expect(engine().stats.liveBuffers).toBe(0);
  });
});

describe('subgroup candidates and the device features', () => {
  const LARGE: MatmulParams = { batch: 1, M: 512, N: 512, K: 512, transA: false, transB: false };
  const SMALL: MatmulParams = { batch: 64, M: 20, N: 30, K: 40, transA: false, transB: true };
  const candidatesOf = (p: MatmulParams) => matmulCandidates(p).map((c) => matmulTuneCandidate(p, c));
  const withFeatures = (features: string[]) => ({ info: { ...engine().info, vendor: 'nvidia', software: false, features } }) as unknown as GpuContext;

  it('are offered for large and small products and for split-K', () => {
    expect(matmulCandidates(LARGE).map((c) => c.id)).toContain('sg8x8-wg8x8');
    expect(matmulCandidates(SMALL).map((c) => c.id)).toEqual(expect.arrayContaining(['sg8x8-wg8x8', 'sg4x4-wg16x4']));
    expect(matmulCandidates({ batch: 1, M: 16, N: 10, K: 4096, transA: true, transB: false }).map((c) => c.id)).toContain('sg4x4-wg16x4-split16');
  });

  it('are refused, naming the feature, by a device without subgroups, and kept by one with them', () => {
    const spec = matmulProgram(LARGE, matmulConfig('sg8x8-wg8x8')).launches[0].spec;
    const limits = engine().info.limits;
    expect(limitRefusal(spec, limits, ['timestamp-query'])).toMatch(/needs the device feature 'subgroups', which this device does not have/);
    expect(limitRefusal(spec, limits, ['subgroups'])).toBeUndefined();
    // Without a feature list, only the limits are checked.
    expect(limitRefusal(spec, limits)).toBeUndefined();
  });

  it('reach the tuner only where the device has the feature', async () => {
    const shapeClass = matmulShapeClass(LARGE);
    for (const [features, offered] of [
      [['subgroups'], true],
      [[], false],
    ] as const) {
      const tuner = new Autotuner(withFeatures([...features]), true, new MemoryTuneStore(), { background: false });
      // A stored winner is answered only when it is among the device's candidates.
      tuner.adopt({ [shapeClass]: 'sg8x8-wg8x8' });
      const id = await tuner.choose(shapeClass, candidatesOf(LARGE), [4, 4, 4, 4]);
      expect(id === 'sg8x8-wg8x8', `features [${features}]`).toBe(offered);
    }
  });
});
