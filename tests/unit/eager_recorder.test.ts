import { describe, expect, it } from 'vitest';
import { add, scale } from '../../src/eager/elementwise.js';
import { relu } from '../../src/eager/activation.js';
import { matmul } from '../../src/eager/matmul.js';
import { sgdStep } from '../../src/eager/optimizer.js';
import { tensor, Tensor } from '../../src/eager/tensor.js';
import type { Engine } from '../../src/gpu/engine.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { useEngine } from '../helpers/engine.js';
import { expectClose } from '../helpers/compare.js';
import { uniform } from '../helpers/random.js';

const engine = useEngine();
const N = 16;

/** What one round of work changed in the engine's counters. */
function delta(e: Engine, before: Engine['stats']) {
  const after = e.stats;
  return {
    submits: after.submits - before.submits,
    passes: after.passes - before.passes,
    launches: after.launches - before.launches,
    bindGroups: after.bindGroups - before.bindGroups,
    uniformBuffers: after.uniformBuffers - before.uniformBuffers,
    programs: after.programs - before.programs,
    pipelines: after.pipelines - before.pipelines,
  };
}

/** y ← relu(y·W + x), `steps` times: 3 eager ops per step, intermediates disposed in creation order. */
function chain(x: Tensor, w: Tensor, steps: number): Tensor {
  let y = x;
  for (let i = 0; i < steps; i++) {
    const m = matmul(y, w);
    const s = add(m, x);
    const next = relu(s);
    m.dispose();
    s.dispose();
    if (y !== x) y.dispose();
    y = next;
  }
  return y;
}

function chainRef(x: Float32Array, w: Float32Array, steps: number): Float64Array {
  let y = Float64Array.from(x);
  for (let i = 0; i < steps; i++) {
    const next = new Float64Array(N * N);
    for (let r = 0; r < N; r++) {
      for (let c = 0; c < N; c++) {
        let acc = x[r * N + c];
        for (let k = 0; k < N; k++) acc += y[r * N + k] * w[k * N + c];
        next[r * N + c] = Math.max(0, acc);
      }
    }
    y = next;
  }
  return y;
}

describe('eager recording', () => {
  it('100 eager ops on repeated shapes cost one submit and one pass, and later rounds make no pipelines, bind groups or uniforms', async () => {
    const e = engine();
    const xs = uniform(N * N, 1);
    const ws = uniform(N * N, 2).map((v) => v * 0.2);
    const x = tensor(e, xs, [N, N]);
    const w = tensor(e, ws, [N, N]);
    await e.flush();
    const want = chainRef(xs, ws, 33);
    const rounds = [];
    for (let round = 0; round < 3; round++) {
      const before = e.stats;
      const y = chain(x, w, 33);
      expectClose(await y.read(), want, { atol: 1e-4, rtol: 1e-4 }, `round ${round}`);
      y.dispose();
      rounds.push(delta(e, before));
    }
    for (const r of rounds) expect(r).toMatchObject({ submits: 1, passes: 1, launches: 99 });
    expect(rounds[0].programs).toBe(3);
    expect(rounds[0].pipelines).toBeGreaterThan(0);
    for (const r of rounds.slice(1)) expect(r).toMatchObject({ bindGroups: 0, uniformBuffers: 0, programs: 0, pipelines: 0 });
    x.dispose();
    w.dispose();
  });

  it('submits on its own after a bounded number of dispatches, and keeps the order', async () => {
    const e = engine();
    const x = tensor(e, [1, 2, 3], [3]);
    let y = scale(x, 1, 1);
    await e.flush();
    const before = e.stats;
    for (let i = 1; i < 1100; i++) {
      const next = scale(y, 1, 1);
      y.dispose();
      y = next;
    }
    expect(delta(e, before).submits).toBe(1);
    expect([...(await y.read())]).toEqual([1101, 1102, 1103]);
    x.dispose();
    y.dispose();
  });

  it('returns tensors at once, and a shape error is thrown before anything is recorded', async () => {
    const e = engine();
    const a = tensor(e, uniform(6, 3), [2, 3]);
    const b = tensor(e, uniform(8, 4), [4, 2]);
    const c = matmul(a, a, { transB: true });
    expect(c).toBeInstanceOf(Tensor);
    c.dispose();
    const before = e.stats;
    expect(() => matmul(a, b)).toThrow(ShapeError);
    expect(() => matmul(a, b)).toThrow(/matmul: A \[2, 3\] and B \[4, 2\]: inner dimensions 3 and 4 differ/);
    expect(delta(e, before).launches).toBe(0);
    expect(e.stats.liveBuffers).toBe(before.liveBuffers);
    await e.flush();
    a.dispose();
    b.dispose();
  });

  it('records a new shape of a compiled kernel, and an optimizer step with new uniforms, without waiting', async () => {
    const e = engine();
    const a = tensor(e, [1, -1, 2], [3]);
    const param = tensor(e, [1, 2, 3], [3]);
    relu(a).dispose();
    sgdStep(param, a, {}, { lr: 0.5 }, 1);
    await e.flush();
    const before = e.stats;
    const b = tensor(e, [1, -1, 2, -3, 4], [5]);
    const y = relu(b);
    sgdStep(param, a, {}, { lr: 0.5 }, 2);
    // Recorded during the calls themselves: nothing waited for a promise.
    expect(delta(e, before)).toMatchObject({ launches: 2, programs: 2, pipelines: 0 });
    expect([...(await y.read())]).toEqual([1, 0, 2, 0, 4]);
    expect([...(await param.read())]).toEqual([0, 3, 1]);
    for (const t of [a, param, b, y]) t.dispose();
  });

  it('reuses a released buffer for a later result without disturbing work recorded before', async () => {
    const e = engine();
    const x = tensor(e, [1, 2, 3, 4], [4]);
    const y = scale(x, 2);
    x.dispose();
    // x's buffer is still read by the unsubmitted scale: the upload must not land before it.
    const z = tensor(e, [9, 9, 9, 9], [4]);
    const u = scale(z, 1, 1);
    expect([...(await y.read())]).toEqual([2, 4, 6, 8]);
    expect([...(await u.read())]).toEqual([10, 10, 10, 10]);
    expect(e.stats.pooledBuffers).toBeGreaterThan(0);
    for (const t of [y, z, u]) t.dispose();
    e.trim();
    await e.flush();
    expect(e.stats.pooledBuffers).toBe(0);
  });
});

describe('scopes and disposal', () => {
  it('engine.scope frees what fn made except what it returns, also in nested objects and async', async () => {
    const e = engine();
    const base = e.stats.liveBuffers;
    const x = tensor(e, [1, -2, 3], [3]);
    const kept = e.scope(() => {
      const a = scale(x, 2);
      const b = relu(a);
      const inner = e.scope(() => ({ list: [scale(b, 1, 1)], dropped: scale(b, 3) }).list);
      return { b, nested: { list: inner } };
    });
    expect(e.stats.liveBuffers).toBe(base + 3);
    expect([...(await kept.b.read())]).toEqual([2, 0, 6]);
    expect([...(await kept.nested.list[0].read())]).toEqual([3, 1, 7]);
    const later = await e.scope(async () => {
      const a = scale(x, 1, 1);
      await e.flush();
      const b = scale(a, 10);
      return b;
    });
    expect(e.stats.liveBuffers).toBe(base + 4);
    expect([...(await later.read())]).toEqual([20, -10, 40]);
    expect(() => e.scope(() => {
      scale(x, 5);
      throw new Error('inside');
    })).toThrow('inside');
    expect(e.stats.liveBuffers).toBe(base + 4);
    for (const t of [x, kept.b, kept.nested.list[0], later]) t.dispose();
    expect(e.stats.liveBuffers).toBe(base);
  });

  it('Tensor and Engine implement Symbol.dispose and Symbol.asyncDispose', async () => {
    const e = engine();
    const t = tensor(e, [1], [1]);
    t[Symbol.dispose]();
    expect(t.disposed).toBe(true);
    expect(typeof e[Symbol.dispose]).toBe('function');
    expect(typeof e[Symbol.asyncDispose]).toBe('function');
  });
});
