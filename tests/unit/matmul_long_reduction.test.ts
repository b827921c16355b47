import { describe, expect, it } from 'vitest';
import { matmul } from '../../src/eager/matmul.js';
import { tensor } from '../../src/eager/tensor.js';
import { matmulParamsOf } from '../../src/graph/ops/matmul.js';
import { matmulCandidates, matmulConfig, matmulProgram, matmulShapeClass, type MatmulParams } from '../../src/kernels/matmul.js';
import { useEngine } from '../helpers/engine.js';
import { expectClose } from '../helpers/compare.js';
import { uniform } from '../helpers/random.js';
import { activateAll } from '../reference/activation.js';
import { addBiasRef, matmulRef } from '../reference/matmul.js';

const engine = useEngine();

/**
 * The CNN benchmark's (W3) fully connected layer, Linear(9216→128) at batch 64: weight W [128, 9216]
 * as torch stores it. Its three products, as the matmul op's gradient rule builds them:
 *   forward  Y  = X·Wᵀ   X [64, 9216]: M 64,   N 128,  K 9216 — a long reduction into 8192 outputs
 *   dX = dY·W            dY [64, 128]: M 64,   N 9216, K 128
 *   dW = dYᵀ·X                         M 128,  N 9216, K 64 (the batch)
 * Only the forward product reduces over a long K into a small output; the gradients reduce over
 * 128 and 64 terms into 589,824 outputs each, which already fill a GPU.
 */
const f32 = (shape: number[]) => ({ shape, dtype: 'f32' as const });
const FORWARD = matmulParamsOf(f32([64, 9216]), f32([128, 9216]), false, true);
const INPUT_GRADIENT = matmulParamsOf(f32([64, 128]), f32([128, 9216]), false, false);
const WEIGHT_GRADIENT = matmulParamsOf(f32([64, 128]), f32([64, 9216]), true, false);
const ids = (p: MatmulParams) => matmulCandidates(p).map((c) => c.id);

describe('the CNN fully connected layer (9216→128, batch 64)', () => {
  it('has one long reduction into a small output: the forward product', () => {
    expect(FORWARD).toMatchObject({ batch: 1, M: 64, N: 128, K: 9216, transB: true });
    expect(INPUT_GRADIENT).toMatchObject({ M: 64, N: 9216, K: 128 });
    expect(WEIGHT_GRADIENT).toMatchObject({ M: 128, N: 9216, K: 64, transA: true });
    expect(matmulShapeClass(FORWARD)).toMatch(/\.splitk\./);
    for (const p of [INPUT_GRADIENT, WEIGHT_GRADIENT]) expect(matmulShapeClass(p)).not.toMatch(/\.splitk\./);
  });

  it('offers split-K candidates for the forward class: register blocks, the double-buffered tile and subgroup quads', () => {
    expect(ids(FORWARD)).toEqual(
      expect.arrayContaining(['reg4x4-wg16x4-split4', 'reg4x4-wg16x4-split16', 'dbuf64x64-r8x8-k8-split8', 'dbuf64x64-r8x8-k8-split32', 'sg4x4-wg16x4-split16']),
    );
    // 9216 / 32 = 288 terms per chunk; 2 tiles of 64×64 become 64 workgroups.
    const program = matmulProgram(FORWARD, matmulConfig('dbuf64x64-r8x8-k8-split32'));
    expect(program.launches).toHaveLength(2);
    expect(program.launches[0].spec.workgroups).toEqual([2, 1, 32]);
    // A chunk keeps at least 64 terms: a K of 1024 drops the 32-way split, keeps the 8-way one.
    const shorter = { ...FORWARD, K: 1024 };
    expect(ids(shorter)).toContain('dbuf64x64-r8x8-k8-split8');
    expect(ids(shorter)).not.toContain('dbuf64x64-r8x8-k8-split32');
  });

  it('leaves the gradients on unsplit tiles (nothing long to split)', () => {
    for (const p of [INPUT_GRADIENT, WEIGHT_GRADIENT]) for (const c of matmulCandidates(p)) expect(c.splits, c.id).toBe(1);
  });

  // The layer's own forward, bias and ReLU fused, at full size against the float64 reference.
  for (const id of ['dbuf64x64-r8x8-k8-split32', 'sg4x4-wg16x4-split16']) {
    it(`${id} computes the layer: relu(X·Wᵀ + b)`, async () => {
      const e = engine();
      const { M, N, K } = FORWARD;
      const x = uniform(M * K, 1);
      const w = uniform(N * K, 2, -0.02, 0.02);
      const bias = uniform(N, 3);
      const [tx, tw, tb] = [tensor(e, x, [M, K]), tensor(e, w, [N, K]), tensor(e, bias, [N])];
      const y = await matmul(tx, tw, { transB: true, bias: tb, activation: { kind: 'relu' }, config: id });
      const want = activateAll('relu', addBiasRef(matmulRef({ batch: 1, M, N, K, transA: false, transB: true }, x, w), bias));
      expectClose(await y.read(), want, { atol: 1e-5, rtol: 1e-4 }, id);
      for (const t of [tx, tw, tb, y]) t.dispose();
    });
  }
});
