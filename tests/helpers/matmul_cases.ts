import { expect, it } from 'vitest';
import { matmul, matmulWithRowSum } from '../../src/eager/matmul.js';
import { tensor } from '../../src/eager/tensor.js';
import type { Engine } from '../../src/gpu/engine.js';
import type { EngineInfo } from '../../src/gpu/open_device.js';
import type { MatmulConfig } from '../../src/kernels/matmul.js';
import { activateAll } from '../reference/activation.js';
import { addBiasRef, matmulRef, rowSumRef } from '../reference/matmul.js';
import { expectClose } from './compare.js';
import { uniform } from './random.js';

/** float32 accumulation over K terms against the float64 reference. */
export const matmulTol = (K: number) => ({ atol: 1e-6 + 5e-7 * K, rtol: 1e-5 });

/** The stored shape of a rows×cols operand, transposed in memory when `trans`. */
export const stored = (rows: number, cols: number, trans: boolean) => (trans ? [cols, rows] : [rows, cols]);

export const TRANSPOSES = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
] as const;

export const transposeLabel = (transA: boolean, transB: boolean) => `${transA ? 'Aᵀ' : 'A'}·${transB ? 'Bᵀ' : 'B'}`;

/** A desktop GPU's limits (NVIDIA, AMD): 1024 invocations, 48 KiB of workgroup memory. */
export const DESKTOP_GPU_LIMITS: EngineInfo['limits'] = {
  maxStorageBufferBindingSize: 2 ** 31,
  maxBufferSize: 2 ** 31,
  maxComputeWorkgroupStorageSize: 49152,
  maxComputeInvocationsPerWorkgroup: 1024,
  maxComputeWorkgroupSizeX: 1024,
  maxComputeWorkgroupSizeY: 1024,
  maxComputeWorkgroupsPerDimension: 65535,
  maxStorageBuffersPerShaderStage: 10,
};

export interface ForcedMatmulCases {
  /** [M, N, K] of the plain products, each run for every transposition. */
  shapes: readonly (readonly [number, number, number])[];
  /** [batch, M, N, K] of the vec4-aligned batched product with a prologue and row sums. */
  aligned: readonly [number, number, number, number];
}

/**
 * Registers the tests every forced matmul configuration passes, for each transposition: the plain
 * products of `shapes`; an aligned batched product with a sigmoid-gradient prologue and row sums;
 * an unaligned one with bias and leaky_relu. All against the float64 reference.
 */
export function forcedMatmulCases(engine: () => Engine, config: MatmulConfig, cases: ForcedMatmulCases): void {
  for (const [M, N, K] of cases.shapes) {
    TRANSPOSES.forEach(([transA, transB], i) => {
      it(`${config.id} ${transposeLabel(transA, transB)} ${M}×${N}×${K}`, async () => {
        const e = engine();
        const a = uniform(M * K, 10 + i + M);
        const b = uniform(K * N, 20 + i + N);
        const ta = tensor(e, a, stored(M, K, transA));
        const tb = tensor(e, b, stored(K, N, transB));
        const c = await matmul(ta, tb, { transA, transB, config: config.id });
        expect(c.shape).toEqual([M, N]);
        expectClose(await c.read(), matmulRef({ batch: 1, M, N, K, transA, transB }, a, b), matmulTol(K), config.id);
        for (const t of [ta, tb, c]) t.dispose();
      });
    });
  }

  TRANSPOSES.forEach(([transA, transB], i) => {
    it(`${config.id} ${transposeLabel(transA, transB)} aligned, batched, vec4 loads, sigmoid-gradient prologue, row sums`, async () => {
      const e = engine();
      const [batch, M, N, K] = cases.aligned;
      const a = uniform(batch * M * K, 30 + i);
      const b = uniform(batch * K * N, 40 + i);
      const saved = uniform(batch * M * N, 50 + i, 0.05, 0.95);
      const ta = tensor(e, a, [batch, ...stored(M, K, transA)]);
      const tb = tensor(e, b, [batch, ...stored(K, N, transB)]);
      const ts = tensor(e, saved, [batch, M, N]);
      const { c, rowSum } = await matmulWithRowSum(ta, tb, { transA, transB, prologue: { activation: { kind: 'sigmoid' }, saved: ts }, config: config.id });
      const product = matmulRef({ batch, M, N, K, transA, transB }, a, b);
      expectClose(await c.read(), product.map((v, k) => v * saved[k] * (1 - saved[k])), matmulTol(K), `${config.id} C`);
      expectClose(await rowSum.read(), rowSumRef({ batch, M, N, K, transA }, a), matmulTol(K), `${config.id} row sums`);
      for (const t of [ta, tb, ts, c, rowSum]) t.dispose();
    });

    it(`${config.id} ${transposeLabel(transA, transB)} unaligned with bias and leaky_relu`, async () => {
      const e = engine();
      const [M, N, K] = [33, 7, 257];
      const a = uniform(M * K, 60 + i);
      const b = uniform(K * N, 70 + i);
      const bias = uniform(N, 80 + i);
      const ta = tensor(e, a, stored(M, K, transA));
      const tb = tensor(e, b, stored(K, N, transB));
      const tbias = tensor(e, bias, [N]);
      const c = await matmul(ta, tb, { transA, transB, bias: tbias, activation: { kind: 'leaky_relu', alpha: 0.1 }, config: config.id });
      const product = matmulRef({ batch: 1, M, N, K, transA, transB }, a, b);
      expectClose(await c.read(), activateAll('leaky_relu', addBiasRef(product, bias), 0.1), matmulTol(K), config.id);
      for (const t of [ta, tb, tbias, c]) t.dispose();
    });
  });
}
