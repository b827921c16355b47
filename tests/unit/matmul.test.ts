import { describe, expect, it } from 'vitest';
import { MemoryTuneStore } from '../../src/gpu/autotune.js';
import { createEngine } from '../../src/gpu/engine.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { matmul, matmulWithRowSum } from '../../src/eager/matmul.js';
import { tensor, Tensor } from '../../src/eager/tensor.js';
import { matmulCandidates, matmulProgram, matmulTuneBufferBytes, matmulTuneCandidate } from '../../src/kernels/matmul.js';
import { useEngine } from '../helpers/engine.js';
import { dot, expectClose, numericGradient } from '../helpers/compare.js';
import { uniform } from '../helpers/random.js';
import { activateAll } from '../reference/activation.js';
import { addBiasRef, matmulRef, rowSumRef } from '../reference/matmul.js';

const engine = useEngine();

/** f32 sums of K products of values in [-1, 1]: rounding grows at most linearly in K. */
const tol = (K: number) => ({ atol: 1e-6 + 5e-7 * K, rtol: 1e-5 });

/** Stored shape of an operand: op(X) is rows×cols, X is stored transposed when `trans`. */
const stored = (rows: number, cols: number, trans: boolean) => (trans ? [cols, rows] : [rows, cols]);

const TRANSPOSITIONS = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
] as const;

function disposeAll(...ts: Tensor[]): void {
  for (const t of ts) t.dispose();
}

describe('matmul forward (default configuration)', () => {
  // Degenerate sides, K tails, sizes that are not multiples of the block, and aligned shapes that
  // take the vec4 paths (12×20×36) or only some of them (5×8×12).
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [1, 5, 3],
    [6, 1, 3],
    [5, 6, 1],
    [33, 7, 257],
    [127, 255, 3],
    [12, 20, 36],
    [5, 8, 12],
  ];
  for (const [transA, transB] of TRANSPOSITIONS) {
    it(`${transA ? 'Aᵀ' : 'A'}·${transB ? 'Bᵀ' : 'B'} matches float64 reference`, async () => {
      for (const [M, N, K] of shapes) {
        const a = uniform(M * K, M + 3 * K);
        const b = uniform(K * N, N + 5 * K);
        const ta = tensor(engine(), a, stored(M, K, transA));
        const tb = tensor(engine(), b, stored(K, N, transB));
        const c = await matmul(ta, tb, { transA, transB });
        expect(c.shape).toEqual([M, N]);
        const want = matmulRef({ batch: 1, M, N, K, transA, transB }, a, b);
        expectClose(await c.read(), want, tol(K), `${M}×${N}×${K}`);
        disposeAll(ta, tb, c);
      }
    });
  }
});

describe('matmul fused epilogue', () => {
  const activations = [
    { kind: 'relu' },
    { kind: 'leaky_relu', alpha: 0.2 },
    { kind: 'sigmoid' },
    { kind: 'tanh' },
    { kind: 'gelu' },
  ] as const;
  // Odd shapes take the scalar store path, N % 4 == 0 the vec4 one; each activation gets one of them.
  activations.forEach((act, i) => {
    const [M, N, K] = i % 2 === 0 ? [7, 9, 13] : [6, 12, 8];
    it(`bias + ${act.kind} on ${M}×${N}×${K}`, async () => {
      const a = uniform(M * K, 1);
      const b = uniform(K * N, 2);
      const bias = uniform(N, 3);
      const [ta, tb, tbias] = [tensor(engine(), a, [M, K]), tensor(engine(), b, [K, N]), tensor(engine(), bias, [N])];
      const c = await matmul(ta, tb, { bias: tbias, activation: act });
      const z = addBiasRef(matmulRef({ batch: 1, M, N, K }, a, b), bias);
      expectClose(await c.read(), activateAll(act.kind, z, 'alpha' in act ? act.alpha : undefined), tol(K), act.kind);
      disposeAll(ta, tb, tbias, c);
    });
  });
});

describe('matmul backward identities', () => {
  it('dA = dC·Bᵀ and dB = Aᵀ·dC match finite differences of L = sum(dC ⊙ A·B)', async () => {
    const [M, N, K] = [7, 9, 5];
    const a = uniform(M * K, 11);
    const b = uniform(K * N, 12);
    const dc = uniform(M * N, 13);
    const [ta, tb, tdc] = [tensor(engine(), a, [M, K]), tensor(engine(), b, [K, N]), tensor(engine(), dc, [M, N])];
    const da = await matmul(tdc, tb, { transB: true });
    const db = await matmul(ta, tdc, { transA: true });
    const s = { batch: 1, M, N, K };
    expectClose(await da.read(), numericGradient((x) => dot(dc, matmulRef(s, x, b)), a), tol(N), 'dA');
    expectClose(await db.read(), numericGradient((x) => dot(dc, matmulRef(s, a, x)), b), tol(M), 'dB');
    disposeAll(ta, tb, tdc, da, db);
  });

  // Y = X·Wᵀ + b, L = sum(dY ⊙ Y): dL/dW = dYᵀ·X and dL/db = Σ_batch dY, the row sums of op(dYᵀ).
  it('dW = dYᵀ·X with its row sums as db matches finite differences of L = sum(dY ⊙ (X·Wᵀ + b))', async () => {
    const [B, I, O] = [7, 9, 5];
    const x = uniform(B * I, 14);
    const w = uniform(O * I, 15);
    const bias = uniform(O, 16);
    const dy = uniform(B * O, 17);
    const [tdy, tx] = [tensor(engine(), dy, [B, O]), tensor(engine(), x, [B, I])];
    const { c: dw, rowSum: db } = await matmulWithRowSum(tdy, tx, { transA: true });
    expect(dw.shape).toEqual([O, I]);
    expect(db.shape).toEqual([O]);
    const forward = (ww: ArrayLike<number>, bb: ArrayLike<number>) =>
      addBiasRef(matmulRef({ batch: 1, M: B, N: O, K: I, transB: true }, x, ww), bb);
    expectClose(await dw.read(), numericGradient((ww) => dot(dy, forward(ww, bias)), w), tol(B), 'dW');
    expectClose(await db.read(), numericGradient((bb) => dot(dy, forward(w, bb)), bias), tol(B), 'db');
    disposeAll(tdy, tx, dw, db);
  });

  // H = f(Z), Y = H·W, L = sum(dY ⊙ Y): dL/dZ = (dY·Wᵀ) ⊙ f'(Z), one kernel with the prologue.
  for (const act of [{ kind: 'relu' }, { kind: 'tanh' }, { kind: 'gelu' }] as const) {
    it(`dZ = (dY·Wᵀ) ⊙ ${act.kind}'(Z) matches finite differences`, async () => {
      const [B, H, O] = [6, 9, 4];
      // Keep Z away from relu's kink, where finite differences are meaningless.
      const z = uniform(B * H, 21, -2, 2).map((v) => (Math.abs(v) < 0.05 ? v + 0.1 : v));
      const w = uniform(H * O, 22);
      const dy = uniform(B * O, 23);
      const savedValues = act.kind === 'gelu' ? z : Float32Array.from(activateAll(act.kind, z));
      const [tdy, tw, tsaved] = [tensor(engine(), dy, [B, O]), tensor(engine(), w, [H, O]), tensor(engine(), savedValues, [B, H])];
      const dz = await matmul(tdy, tw, { transB: true, prologue: { activation: act, saved: tsaved } });
      const loss = (zz: Float64Array) => dot(dy, matmulRef({ batch: 1, M: B, N: O, K: H }, activateAll(act.kind, zz), w));
      expectClose(await dz.read(), numericGradient(loss, z), { atol: 1e-5, rtol: 1e-4 }, `${act.kind} dZ`);
      disposeAll(tdy, tw, tsaved, dz);
    });
  }
});

describe('batched matmul', () => {
  it('3-D × 3-D (with row sums) and 3-D × shared 2-D, with transposes', async () => {
    const [batch, M, N, K] = [3, 5, 6, 7];
    for (const [transA, transB] of TRANSPOSITIONS) {
      const a = uniform(batch * M * K, 31);
      const b = uniform(batch * K * N, 32);
      const ta = tensor(engine(), a, [batch, ...stored(M, K, transA)]);
      const tb = tensor(engine(), b, [batch, ...stored(K, N, transB)]);
      const { c, rowSum } = await matmulWithRowSum(ta, tb, { transA, transB });
      expect(c.shape).toEqual([batch, M, N]);
      expect(rowSum.shape).toEqual([batch, M]);
      expectClose(await c.read(), matmulRef({ batch, M, N, K, transA, transB }, a, b), tol(K), `batched ${transA}${transB}`);
      expectClose(await rowSum.read(), rowSumRef({ batch, M, N, K, transA }, a), tol(K), `batched row sums ${transA}${transB}`);
      const shared = tensor(engine(), b.subarray(0, K * N), stored(K, N, transB));
      const cs = await matmul(ta, shared, { transA, transB });
      const want = matmulRef({ batch, M, N, K, transA, transB, strideB: 0 }, a, b.subarray(0, K * N));
      expectClose(await cs.read(), want, tol(K), `shared B ${transA}${transB}`);
      disposeAll(ta, tb, c, rowSum, shared, cs);
    }
  });
});

describe('split-K', () => {
  it('partial sums + reduce with bias, activation and prologue; row sums summed per split', async () => {
    const [M, N, K] = [6, 10, 301];
    const a = uniform(K * M, 41);
    const b = uniform(K * N, 42);
    const bias = uniform(N, 43);
    const saved = uniform(M * N, 44, -1, 1);
    const [ta, tb, tbias, tsaved] = [tensor(engine(), a, [K, M]), tensor(engine(), b, [K, N]), tensor(engine(), bias, [N]), tensor(engine(), saved, [M, N])];
    const product = matmulRef({ batch: 1, M, N, K, transA: true }, a, b);
    for (const config of ['reg4x4-wg16x4-split4', 'reg4x4-wg16x4-split16']) {
      const { c, rowSum } = await matmulWithRowSum(ta, tb, { transA: true, bias: tbias, activation: { kind: 'sigmoid' }, config });
      expectClose(await c.read(), activateAll('sigmoid', addBiasRef(product, bias)), tol(K), `${config} epilogue`);
      expectClose(await rowSum.read(), rowSumRef({ batch: 1, M, N, K, transA: true }, a), tol(K), `${config} row sums`);
      const g = await matmul(ta, tb, { transA: true, prologue: { activation: { kind: 'tanh' }, saved: tsaved }, config });
      expectClose(await g.read(), product.map((v, i) => v * (1 - saved[i] * saved[i])), tol(K), `${config} prologue`);
      disposeAll(c, rowSum, g);
    }
    disposeAll(ta, tb, tbias, tsaved);
  });

  it('splits long-K products with small outputs into two launches', () => {
    const p = { batch: 1, M: 16, N: 10, K: 4096, transA: true, transB: false };
    const first = matmulCandidates(p)[0];
    expect(first.splits).toBeGreaterThan(1);
    expect(matmulProgram(p, first).launches).toHaveLength(2);
    // Row sums stay in the same two launches: per-split partials in a second scratch buffer.
    const withRows = matmulProgram({ ...p, rowSumA: true }, first);
    expect(withRows.launches).toHaveLength(2);
    expect(withRows.scratch).toEqual([...matmulProgram(p, first).scratch, 4 * first.splits * 16]);
  });
});

describe('autotuning', () => {
  it('times a capped problem with the same vec4 alignment, inside the real operands', () => {
    const p = { batch: 8, M: 2051, N: 2048, K: 4099, transA: true, transB: false };
    for (const c of matmulCandidates(p)) {
      const u = new Uint32Array(matmulTuneCandidate(p, c).spec.uniforms!);
      expect([...u.subarray(0, 6)]).toEqual([515, 512, 1027, 4, 2051 * 4099, 4099 * 2048]);
    }
    const out = 4 * 515 * 512 * 4;
    expect(matmulTuneBufferBytes(p, matmulCandidates(p))).toEqual([8 * 2051 * 4099 * 4, 8 * 4099 * 2048 * 4, out, out]);
  });

  it('times a split-K candidate with its reduce launch, bound so that the reduce writes the product', async () => {
    // K is capped at 1024 for timing: the tuned launches compute the first 1024 terms of each dot.
    const p = { batch: 1, M: 16, N: 10, K: 4096, transA: true, transB: false };
    const candidates = matmulCandidates(p);
    const split = candidates.find((c) => c.splits > 1)!;
    const direct = candidates.find((c) => c.splits === 1)!;
    expect(matmulTuneCandidate(p, direct).after).toEqual([]);
    const tune = matmulTuneCandidate(p, split);
    expect(tune.after).toHaveLength(1);
    expect(tune.after![0].spec.name).toMatch(/_reduce$/);
    expect(tune.after![0].buffers).toEqual([2, 3]);
    const bytes = matmulTuneBufferBytes(p, candidates);
    expect(bytes[2]).toBe(bytes[3] * Math.max(...candidates.map((c) => c.splits)));
    const buffers = bytes.map((b, i) => engine().createStorage(b, `tune ${i}`));
    const a = uniform(p.K * p.M, 61);
    const b = uniform(p.K * p.N, 62);
    engine().upload(buffers[0], a);
    engine().upload(buffers[1], b);
    await engine().flush();
    const launches = [{ spec: tune.spec, buffers: [0, 1, 2] }, ...tune.after!];
    const ms = await engine().tuner.time(launches, buffers);
    expect(Number.isFinite(ms) && ms > 0).toBe(true);
    const c = new Float32Array(await engine().readBytes(buffers[3], p.M * p.N * 4));
    const expected = new Float64Array(p.M * p.N);
    for (let m = 0; m < p.M; m++) for (let n = 0; n < p.N; n++) for (let k = 0; k < 1024; k++) expected[m * p.N + n] += a[k * p.M + m] * b[k * p.N + n];
    expectClose(c, expected, tol(1024), 'split-K tune output');
    for (const buffer of buffers) engine().buffers.destroy(buffer);
  });

  it('never times candidates for an eager call: it uses the known or default configuration, at once', async () => {
    class RecordingStore extends MemoryTuneStore {
      readonly writes: [string, string][] = [];
      override set(key: string, value: string): void {
        this.writes.push([key, value]);
        super.set(key, value);
      }
    }
    const store = new RecordingStore();
    const tuned = await createEngine({ autotune: true, tuneStore: store, log: () => {} });
    try {
      const [M, N, K] = [20, 12, 16];
      const a = uniform(M * K, 51);
      const b = uniform(N * K, 52);
      const [ta, tb] = [tensor(tuned, a, [M, K]), tensor(tuned, b, [N, K])];
      const params = { batch: 1, M, N, K, transA: false, transB: true };
      expect(matmulCandidates(params).length).toBeGreaterThan(1);
      const c1 = matmul(ta, tb, { transB: true });
      expect(c1).toBeInstanceOf(Tensor);
      const c2 = await matmul(ta, tb, { transB: true });
      const want = matmulRef({ ...params }, a, b);
      expectClose(await c1.read(), want, tol(K), 'first call');
      expectClose(await c2.read(), want, tol(K), 'second call');
      expect(store.writes).toEqual([]);
      expect(tuned.stats.launches).toBe(2);
      disposeAll(ta, tb, c1, c2);
      expect(tuned.stats.liveBuffers).toBe(0);
      expect(tuned.pipelines.messages).toEqual([]);
    } finally {
      await tuned.close();
    }
  });
});

describe('matmul shape errors', () => {
  it('are thrown before any GPU work, naming shapes and fix', async () => {
    const e = engine();
    const a = tensor(e, new Float32Array(12), [3, 4]);
    const b = tensor(e, new Float32Array(30), [5, 6]);
    const v = tensor(e, new Float32Array(4), [4]);
    const c3 = tensor(e, new Float32Array(2 * 4 * 5), [2, 4, 5]);
    const d3 = tensor(e, new Float32Array(3 * 4 * 5), [3, 4, 5]);
    const bias = tensor(e, new Float32Array(5), [5]);
    const s33 = tensor(e, new Float32Array(9), [3, 3]);
    const before = e.stats;
    expect(() => matmul(a, b)).toThrow(ShapeError);
    expect(() => matmul(a, b)).toThrow(/matmul: A \[3, 4\] and B \[5, 6\]: inner dimensions 4 and 5 differ; transpose an operand/);
    expect(() => matmul(v, b)).toThrow(/A \[4\] must be 2-D/);
    expect(() => matmul(c3, d3, { transB: true })).toThrow(/batch sizes 2 and 3 of A \[2, 4, 5\] and B \[3, 4, 5\] differ/);
    expect(() => matmul(a, a, { transB: true, bias })).toThrow(/^matmul: bias \[5\] must be \[3\]/);
    const prologue = { activation: { kind: 'relu' }, saved: a } as const;
    expect(() => matmul(a, a, { transB: true, prologue })).toThrow(/saved activation \[3, 4\] must match the product \[3, 3\]/);
    const both = { transB: true, activation: { kind: 'relu' }, prologue: { activation: { kind: 'relu' }, saved: s33 } } as const;
    expect(() => matmul(a, a, both)).toThrow(/prologue \(relu\) and an output activation \(relu\) cannot share one kernel/);
    expect(() => matmulProgram({ batch: 1, M: 0, N: 2, K: 2, transA: false, transB: false }, matmulCandidates({ batch: 1, M: 1, N: 2, K: 2, transA: false, transB: false })[0])).toThrow(
      /M = 0 must be a positive integer/,
    );
    expect(e.stats).toEqual(before);
    disposeAll(a, b, v, c3, d3, bias, s33);
  });
});

describe('matmul cleanup', () => {
  it('leaves no buffers alive', async () => {
    await engine().sync();
    expect(engine().stats.liveBuffers).toBe(0);
  });
});
