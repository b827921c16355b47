import { describe, expect, it } from 'vitest';
import { matmul, matmulWithRowSum } from '../../src/eager/matmul.js';
import { tensor } from '../../src/eager/tensor.js';
import { workgroupNeeds } from '../../src/gpu/tune_limits.js';
import { MATMUL_CONFIGS, matmulProgram } from '../../src/kernels/matmul.js';
import { useEngine } from '../helpers/engine.js';
import { expectClose } from '../helpers/compare.js';
import { uniform } from '../helpers/random.js';
import { activateAll } from '../reference/activation.js';
import { addBiasRef, matmulRef, rowSumRef } from '../reference/matmul.js';

const engine = useEngine();

const tol = (K: number) => ({ atol: 1e-6 + 5e-7 * K, rtol: 1e-5 });
const stored = (rows: number, cols: number, trans: boolean) => (trans ? [cols, rows] : [rows, cols]);

/**
 * The configurations within WebGPU's default workgroup limits (256 invocations, 16 KiB), which
 * every device accepts at their own size. Those sized for GPU limits are tested at smaller
 * workgroups of the same WGSL (matmul_gpu_limits.test.ts).
 */
const FITTING = MATMUL_CONFIGS.filter((c) => {
  const needs = workgroupNeeds(matmulProgram({ batch: 1, M: 64, N: 64, K: 64, transA: false, transB: false }, c).launches[0].spec)!;
  return needs.invocations <= 256 && needs.workgroupBytes <= 16384;
});

/**
 * Every configuration, forced, under every transposition. Half the cases use a shape with no side
 * a multiple of 4 (scalar loads, K tail, partial tiles) plus bias and leaky_relu; the other half an
 * aligned, batched shape (vec4 loads everywhere, still not a multiple of any tile, K not a multiple
 * of the K step) with a sigmoid-gradient prologue. Half of them also output the row sums of op(A)
 * (one Aᵀ and one A case per configuration, one aligned and one not), which replaces that case's
 * kernel rather than adding one, keeping the number of compiled variants unchanged.
 */
describe('matmul configurations', () => {
  it('leave out only the GPU-sized ones', () => {
    expect(MATMUL_CONFIGS.filter((c) => !FITTING.includes(c)).map((c) => c.id)).toEqual(['dbuf128x128-r4x4-k8', 'dbuf256x128-r8x8-k16']);
  });

  FITTING.forEach((config, j) => {
    [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ].forEach(([transA, transB], i) => {
      const aligned = (i + j) % 2 === 1;
      const rowSumA = ((i >> 1) + j) % 2 === 0;
      const label = `${aligned ? 'aligned, batched, prologue' : 'unaligned, bias + leaky_relu'}${rowSumA ? ', row sums' : ''}`;
      it(`${config.id} ${transA ? 'Aᵀ' : 'A'}·${transB ? 'Bᵀ' : 'B'} ${label}`, async () => {
        const e = engine();
        const [batch, M, N, K] = aligned ? [2, 36, 68, 132] : [1, 33, 7, 257];
        const a = uniform(batch * M * K, 100 + i + 7 * j);
        const b = uniform(batch * K * N, 200 + i + 7 * j);
        const lead = batch > 1 ? [batch] : [];
        const ta = tensor(e, a, [...lead, ...stored(M, K, transA)]);
        const tb = tensor(e, b, [...lead, ...stored(K, N, transB)]);
        const product = matmulRef({ batch, M, N, K, transA, transB }, a, b);
        // The row sums are checked untouched by the prologue or epilogue of C.
        const run = async (options: Parameters<typeof matmul>[2]) => {
          if (!rowSumA) return matmul(ta, tb, options);
          const { c, rowSum } = await matmulWithRowSum(ta, tb, options);
          expect(rowSum.shape).toEqual([...lead, M]);
          expectClose(await rowSum.read(), rowSumRef({ batch, M, N, K, transA }, a), tol(K), `${config.id} row sums`);
          rowSum.dispose();
          return c;
        };
        if (aligned) {
          const saved = uniform(batch * M * N, 300 + j, 0.05, 0.95);
          const ts = tensor(e, saved, [batch, M, N]);
          const c = await run({ transA, transB, prologue: { activation: { kind: 'sigmoid' }, saved: ts }, config: config.id });
          expect(c.shape).toEqual([batch, M, N]);
          expectClose(await c.read(), product.map((v, k) => v * saved[k] * (1 - saved[k])), tol(K), config.id);
          ts.dispose();
          c.dispose();
        } else {
          const bias = uniform(N, 400 + j);
          const tbias = tensor(e, bias, [N]);
          const c = await run({ transA, transB, bias: tbias, activation: { kind: 'leaky_relu', alpha: 0.1 }, config: config.id });
          expectClose(await c.read(), activateAll('leaky_relu', addBiasRef(product, bias), 0.1), tol(K), config.id);
          tbias.dispose();
          c.dispose();
        }
        ta.dispose();
        tb.dispose();
      });
    });
  });

  it('adds no row-sum code, binding or scratch when rowSumA is off', () => {
    for (const config of MATMUL_CONFIGS) {
      for (const transA of [false, true]) {
        const p = { batch: 2, M: 33, N: 7, K: 257, transA, transB: false, bias: true };
        const off = matmulProgram(p, config);
        const on = matmulProgram({ ...p, rowSumA: true }, config);
        for (const { spec } of off.launches) expect(spec.code).not.toMatch(/rowSum|partialRows|\brs_|\bfirst\b/);
        expect(on.launches.map((l) => l.spec.bindings.length)).toEqual(off.launches.map((l) => l.spec.bindings.length + (l.spec.name.endsWith('_reduce') ? 2 : 1)));
        expect(on.scratch.length).toBe(off.scratch.length === 0 ? 0 : 2);
      }
    }
  });

  it('leaves no buffers alive', async () => {
    await engine().sync();
    expect(engine().stats.liveBuffers).toBe(0);
  });
});
