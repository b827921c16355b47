import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KernelError, ShapeError } from '../../src/gpu/errors.js';
import type { KernelProgram } from '../../src/gpu/kernel_spec.js';
import { encodeLaunch, makeLaunch } from '../../src/gpu/launch.js';
import { gradients } from '../../src/graph/autodiff.js';
import { compileStep } from '../../src/graph/compile.js';
import { createGraph } from '../../src/graph/graph.js';
import type { Value } from '../../src/graph/ir.js';
import { ParameterStore } from '../../src/graph/params.js';
import { singleLaunch } from '../../src/kernels/kernel.js';
import {
  attentionShape,
  causalAttentionBackward,
  causalAttentionBackwardTuning,
  causalAttentionForward,
  causalAttentionForwardTuning,
  tilesId,
  tilesOf,
  type AttentionShape,
  type AttentionTiles,
} from '../../src/kernels/causal_attention.js';
import { CausalSelfAttention } from '../../src/nn/attention.js';
import { SGD } from '../../src/optim/optimizers.js';
import { dot, expectClose, numericGradient } from '../helpers/compare.js';
import { useEngine } from '../helpers/engine.js';
import { uniform } from '../helpers/random.js';
import { causalAttentionGradRef, causalAttentionRef } from '../reference/causal_attention.js';
import { evaluate } from '../reference/graph.js';

const engine = useEngine();
const f64 = (a: ArrayLike<number>) => Float64Array.from(a);
const sizes = (s: AttentionShape) => {
  const e = s.heads * s.headDim;
  return { qkv: s.batch * s.tokens * 3 * e, y: s.batch * s.tokens * e, lse: s.batch * s.heads * s.tokens };
};
const label = (s: AttentionShape) => `B=${s.batch} T=${s.tokens} H=${s.heads} Dh=${s.headDim}`;

/** Runs `program` once in one compute pass: io = inputs then outputs of the given lengths. */
async function runProgram(program: KernelProgram, inputs: Float32Array[], outputLengths: number[]): Promise<Float32Array[]> {
  const e = engine();
  const io = [...inputs.map((x, i) => e.createStorage(x.byteLength, `in${i}`)), ...outputLengths.map((n, i) => e.createStorage(n * 4, `out${i}`))];
  inputs.forEach((x, i) => e.upload(io[i], x));
  const scratch = program.scratch.map((bytes, i) => e.createStorage(bytes, `scratch${i}`));
  const owned: GPUBuffer[] = [];
  const launches = [];
  for (const { spec, args } of program.launches) {
    launches.push(await makeLaunch(e, spec, args.map((a) => ('io' in a ? io[a.io] : scratch[a.scratch])), owned));
  }
  const encoder = e.device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  for (const launch of launches) encodeLaunch(pass, launch);
  pass.end();
  e.device.queue.submit([encoder.finish()]);
  const out = [];
  for (let i = 0; i < outputLengths.length; i++) out.push(new Float32Array(await e.readBytes(io[inputs.length + i], outputLengths[i] * 4)));
  for (const b of [...io, ...scratch, ...owned]) e.buffers.destroy(b);
  return out;
}

async function forwardOnGpu(s: AttentionShape, qkv: Float32Array, scale: number, tiles?: AttentionTiles) {
  const n = sizes(s);
  const [y, lse] = await runProgram(singleLaunch(causalAttentionForward(s, scale, tiles)), [qkv], [n.y, n.lse]);
  return { y, lse };
}

async function backwardOnGpu(s: AttentionShape, qkv: Float32Array, dy: Float32Array, scale: number, tiles?: AttentionTiles) {
  const { y, lse } = await forwardOnGpu(s, qkv, scale, tiles);
  const [dqkv] = await runProgram(causalAttentionBackward(s, scale, tiles), [dy, qkv, y, lse], [sizes(s).qkv]);
  return dqkv;
}

const shape = (batch: number, tokens: number, heads: number, headDim: number): AttentionShape => ({ batch, tokens, heads, headDim });

describe('causal_attention kernels against the float64 reference', () => {
  // One token (only itself to attend to), a partial tile (7), one past two full tiles (65).
  const cases: [AttentionShape, AttentionTiles | undefined][] = [
    [shape(2, 1, 2, 8), undefined],
    [shape(1, 7, 3, 16), undefined],
    [shape(2, 65, 2, 32), undefined],
    [shape(1, 9, 2, 3), undefined],
    // Small tiles: many key tiles per row block, the ragged last tile and rows ≠ tile.
    [shape(1, 13, 2, 8), { staged: true, rows: 4, tile: 2, block: 1 }],
    [shape(2, 11, 1, 16), { staged: true, rows: 3, tile: 5, block: 2 }],
    // Direct: each invocation reads the other rows from storage (software adapters), owning
    // `block` rows, the last block partly past the sequence.
    [shape(2, 65, 2, 32), { staged: false, rows: 32, tile: 32, block: 2 }],
    [shape(1, 9, 2, 3), { staged: false, rows: 4, tile: 32, block: 1 }],
    [shape(2, 7, 3, 16), { staged: false, rows: 3, tile: 32, block: 3 }],
  ];
  for (const [s, tiles] of cases) {
    const where = `${label(s)}${tiles ? ` ${tilesId(tiles)}` : ''}`;
    it(`forward y and logsumexp, ${where}`, async () => {
      const qkv = uniform(sizes(s).qkv, s.tokens + 10 * s.headDim, -2, 2);
      const scale = 1 / Math.sqrt(s.headDim);
      const { y, lse } = await forwardOnGpu(s, qkv, scale, tiles);
      const ref = causalAttentionRef(qkv, s, scale);
      expectClose(y, ref.y, { atol: 2e-6, rtol: 1e-4 }, `y ${where}`);
      expectClose(lse, ref.lse, { atol: 2e-6, rtol: 1e-5 }, `lse ${where}`);
    });

    it(`backward dqkv, ${where}`, async () => {
      const qkv = uniform(sizes(s).qkv, 3 + s.tokens, -2, 2);
      const dy = uniform(sizes(s).y, 5 + s.tokens);
      const scale = 1 / Math.sqrt(s.headDim);
      const dqkv = await backwardOnGpu(s, qkv, dy, scale, tiles);
      expectClose(dqkv, causalAttentionGradRef(qkv, dy, s, scale), { atol: 1e-5, rtol: 1e-4 }, `dqkv ${where}`);
    });
  }

  it('stays finite and exact when scores reach the hundreds (the running max rescales, no overflow)', async () => {
    const s = shape(1, 40, 2, 16);
    const qkv = uniform(sizes(s).qkv, 77, -6, 6);
    const { y, lse } = await forwardOnGpu(s, qkv, 1);
    const ref = causalAttentionRef(qkv, s, 1);
    expect(Math.max(...ref.lse)).toBeGreaterThan(100);
    expectClose(y, ref.y, { atol: 1e-5, rtol: 1e-4 }, 'y');
    expectClose(lse, ref.lse, { atol: 1e-4, rtol: 1e-6 }, 'lse');
  });

  it('the backward matches finite differences of the float64 forward', async () => {
    const s = shape(2, 5, 2, 3);
    const qkv = uniform(sizes(s).qkv, 21, -1.5, 1.5);
    const dy = uniform(sizes(s).y, 22);
    const scale = 0.8;
    const numeric = numericGradient((v) => dot(dy, causalAttentionRef(v, s, scale).y), qkv);
    expectClose(await backwardOnGpu(s, qkv, dy, scale), numeric, { atol: 2e-5, rtol: 1e-4 }, 'dqkv against finite differences');
  });

  it('the float64 gradient reference matches finite differences, and future tokens never change the past', () => {
    for (const s of [shape(1, 1, 1, 4), shape(2, 6, 2, 3), shape(1, 4, 3, 2)]) {
      const qkv = f64(uniform(sizes(s).qkv, 31 + s.tokens, -1.5, 1.5));
      const dy = f64(uniform(sizes(s).y, 32));
      const numeric = numericGradient((v) => dot(dy, causalAttentionRef(v, s, 0.7).y), qkv);
      expectClose(causalAttentionGradRef(qkv, dy, s, 0.7), numeric, { atol: 1e-8, rtol: 1e-6 }, label(s));
    }
    // Changing the last token's q, k and v leaves every earlier output as it was.
    const s = shape(1, 6, 2, 3);
    const qkv = f64(uniform(sizes(s).qkv, 40));
    const changed = qkv.slice();
    for (let i = 5 * 18; i < 6 * 18; i++) changed[i] += 1;
    expect(causalAttentionRef(changed, s, 1).y.subarray(0, 5 * 6)).toEqual(causalAttentionRef(qkv, s, 1).y.subarray(0, 5 * 6));
  });

  it('random shapes, tiles and scales match the reference (property)', async () => {
    const problem = fc.record({
      batch: fc.integer({ min: 1, max: 2 }),
      tokens: fc.integer({ min: 1, max: 24 }),
      heads: fc.integer({ min: 1, max: 3 }),
      headDim: fc.integer({ min: 1, max: 12 }),
      staged: fc.boolean(),
      rows: fc.integer({ min: 1, max: 40 }),
      block: fc.integer({ min: 1, max: 5 }),
      tile: fc.integer({ min: 1, max: 40 }),
      scale: fc.double({ min: -2, max: 2, noNaN: true }),
      seed: fc.integer({ min: 0, max: 1000 }),
    });
    await fc.assert(
      fc.asyncProperty(problem, async (p) => {
        const s = shape(p.batch, p.tokens, p.heads, p.headDim);
        const tiles = { staged: p.staged, rows: p.rows, tile: p.tile, block: p.block };
        const qkv = uniform(sizes(s).qkv, p.seed, -2, 2);
        const dy = uniform(sizes(s).y, p.seed + 1);
        const { y } = await forwardOnGpu(s, qkv, p.scale, tiles);
        expectClose(y, causalAttentionRef(qkv, s, p.scale).y, { atol: 2e-6, rtol: 1e-4 }, `y ${JSON.stringify(p)}`);
        const dqkv = await backwardOnGpu(s, qkv, dy, p.scale, tiles);
        expectClose(dqkv, causalAttentionGradRef(qkv, dy, s, p.scale), { atol: 1e-5, rtol: 1e-4 }, `dqkv ${JSON.stringify(p)}`);
      }),
      { numRuns: 4, seed: 20261130 },
    );
  });

  it('a NaN in one key reaches exactly the outputs of the queries that see it, as in the reference', async () => {
    const s = shape(1, 9, 2, 4);
    const qkv = uniform(sizes(s).qkv, 80);
    // Token 4's key, head 1, element 2: queries 4 … 8 of head 1 see it.
    qkv[4 * 24 + 8 + 4 + 2] = Number.NaN;
    const { y } = await forwardOnGpu(s, qkv, 0.5);
    const ref = causalAttentionRef(qkv, s, 0.5).y;
    expect(Array.from(y, Number.isNaN)).toEqual(Array.from(ref, Number.isNaN));
    expect(Array.from(ref, Number.isNaN).filter(Boolean).length).toBe(5 * 4);
  });

  it('the backward is deterministic: two runs agree bit for bit', async () => {
    const s = shape(2, 37, 2, 8);
    const qkv = uniform(sizes(s).qkv, 50, -2, 2);
    const dy = uniform(sizes(s).y, 51);
    const first = await backwardOnGpu(s, qkv, dy, 0.35);
    const second = await backwardOnGpu(s, qkv, dy, 0.35);
    expect(new Uint32Array(second.buffer)).toEqual(new Uint32Array(first.buffer));
  });
});

describe('causal_attention tuning candidates', () => {
  // Each candidate as the autotuner binds it (backward: dy, qkv, y, lse, dqkv, D; the dk/dv launch
  // after the dq launch) computes the same result, so whichever wins is correct.
  // Dh = 8 keeps the 24 pipelines quick to compile; the binding and tiling do not depend on it.
  it('every forward and backward candidate matches the reference, B=1 T=70 H=2 Dh=8', async () => {
    const s = shape(1, 70, 2, 8);
    const n = sizes(s);
    const qkv = uniform(n.qkv, 90, -2, 2);
    const dy = uniform(n.y, 91);
    const ref = causalAttentionRef(qkv, s, 0.2);
    const refGrad = causalAttentionGradRef(qkv, dy, s, 0.2);
    const forward = causalAttentionForwardTuning(s, 0.2, false);
    const backward = causalAttentionBackwardTuning(s, 0.2, false);
    const ids = ['s32t32b1', 's64t32b1', 's16t16b1', 's32t32b2', 'd32b2', 'd16b4', 'd8b4', 'd32b1'];
    expect(forward.candidates.map((c) => c.id)).toEqual(ids);
    expect(backward.candidates.map((c) => c.id)).toEqual(ids);
    expect(forward.bufferBytes).toEqual([n.qkv * 4, n.y * 4, n.lse * 4]);
    for (const c of forward.candidates) {
      const [y, lse] = await runProgram(singleLaunch(c.spec), [qkv], [n.y, n.lse]);
      expectClose(y, ref.y, { atol: 2e-6, rtol: 1e-4 }, `y ${c.id}`);
      expectClose(lse, ref.lse, { atol: 2e-6, rtol: 1e-5 }, `lse ${c.id}`);
    }
    const y = Float32Array.from(ref.y);
    const lse = Float32Array.from(ref.lse);
    for (const c of backward.candidates) {
      const launches = [c.spec, ...c.after!.map((a) => a.spec)].map((spec, k) => ({
        spec,
        args: (k === 0 ? [0, 1, 2, 3, 4, 5] : c.after![k - 1].buffers).map((io) => ({ io })),
      }));
      const [dqkv] = await runProgram({ name: c.id, scratch: [], launches }, [dy, qkv, y, lse], [n.qkv, n.lse]);
      expectClose(dqkv, refGrad, { atol: 1e-5, rtol: 1e-4 }, `dqkv ${c.id}`);
      expect(tilesId(tilesOf(c.id))).toBe(c.id);
    }
  });

  it('fits every candidate to 16 KiB of workgroup memory for the widest heads; software adapters start direct', () => {
    const s = shape(1, 8, 1, 128);
    const direct = ['d32b2', 'd16b4', 'd8b4', 'd32b1'];
    expect(causalAttentionForwardTuning(s, 1, false).candidates.map((c) => c.id)).toEqual(['s32t16b1', 's64t16b1', 's16t16b1', 's32t16b2', ...direct]);
    expect(causalAttentionBackwardTuning(s, 1, false).candidates.map((c) => c.id)).toEqual(['s32t8b1', 's64t8b1', 's16t8b1', 's32t8b2', ...direct]);
    // Software adapters start from direct kernels with 2 rows per invocation.
    expect(causalAttentionForwardTuning(s, 1, true).candidates.map((c) => c.id)).toEqual(['d32b2', 's32t16b1', 's64t16b1', 's16t16b1', 's32t16b2', 'd16b4', 'd8b4', 'd32b1']);
    expect(() => tilesOf('32x32')).toThrow(KernelError);
  });
});

describe('CausalSelfAttention in a compiled step', () => {
  // x → qkv Linear → causal_attention → proj Linear → mse: the forward and one SGD update against
  // the float64 interpreter, so the parameter updates go through the op's gradient rule.
  for (const [batch, tokens, dim, heads] of [[2, 5, 8, 2], [1, 7, 12, 3], [3, 1, 4, 1]]) {
    it(`matches the float64 forward and SGD update, [${batch}, ${tokens}, ${dim}] with ${heads} heads`, async () => {
      const store = new ParameterStore(engine(), { seed: 9 });
      const layer = new CausalSelfAttention(dim, heads);
      layer.register(store);
      expect(store.list.map((p) => `${p.name} [${p.shape}]`)).toEqual([`qkv.weight [${3 * dim},${dim}]`, `qkv.bias [${3 * dim}]`, `proj.weight [${dim},${dim}]`, `proj.bias [${dim}]`]);
      const shapeX = [batch, tokens, dim];
      const step = await compileStep(engine(), {
        inputs: { x: { shape: shapeX }, t: { shape: shapeX } },
        stores: [store],
        build: (g, { x, t }) => {
          const y = layer.apply(g, x, { store, training: true });
          const [loss] = g.apply('mse', [y, t], {});
          return { outputs: { loss, y }, minimize: { loss, store, optimizer: new SGD({ lr: 0.5 }) } };
        },
      });
      const n = batch * tokens * dim;
      const x = uniform(n, 60 + dim, -2, 2);
      const t = uniform(n, 61 + dim);
      const before = new Map<string, Float32Array>();
      for (const p of store.list) before.set(p.name, await store.read(p.name));
      step.run({ x, t });
      const y = await step.read('y');

      const g = createGraph();
      const [xv, tv] = [g.input('x', shapeX), g.input('t', shapeX)];
      const yv = layer.apply(g, xv, { store, training: true });
      const [lossV] = g.apply('mse', [yv, tv], {});
      const end = g.nodes.length;
      const grads = gradients(g, lossV, g.params);
      expect(g.nodes.some((node) => node.op === 'causal_attention_backward')).toBe(true);
      const feeds = new Map<Value, Float64Array>([[xv, f64(x)], [tv, f64(t)]]);
      for (const p of g.params) feeds.set(p, f64(before.get(p.name)!));
      const env = evaluate(g, feeds);
      expectClose(y, env.get(yv)!, { atol: 1e-5, rtol: 1e-4 }, 'y');
      for (const p of g.params) {
        // The interpreter's gradient through the whole graph, checked by finite differences here.
        const numeric = numericGradient((v) => evaluate(g, new Map(feeds).set(p, v), end).get(lossV)![0], feeds.get(p)!);
        expectClose(env.get(grads.get(p)!)!, numeric, { atol: 1e-8, rtol: 1e-6 }, `${p.name} gradient`);
        const expected = before.get(p.name)!.map((v, i) => v - 0.5 * env.get(grads.get(p)!)![i]);
        expectClose(await store.read(p.name), expected, { atol: 1e-6, rtol: 1e-5 }, p.name);
      }
      step.dispose();
      store.dispose();
    });
  }
});

describe('causal_attention errors', () => {
  it('names the op, the shapes and the fix when the graph is built', () => {
    const g = createGraph();
    const apply = (shape: number[], attrs: { heads: number; scale: number }) => () => g.apply('causal_attention', [g.input('qkv', shape)], attrs);
    expect(apply([2, 4, 20], { heads: 2, scale: 1 })).toThrow(ShapeError);
    expect(apply([2, 4, 20], { heads: 2, scale: 1 })).toThrow(/causal_attention: qkv's last dimension 20 is not 3·heads·headDim for 2 heads; it must be a multiple of 6/);
    expect(apply([8, 24], { heads: 2, scale: 1 })).toThrow(/causal_attention: qkv \[8, 24\] must be \[batch, tokens, 3·heads·headDim\]/);
    expect(apply([1, 4, 24], { heads: 1.5, scale: 1 })).toThrow(/causal_attention: heads 1.5 must be a positive integer/);
    expect(apply([1, 4, 24], { heads: 2, scale: Number.NaN })).toThrow(/causal_attention: scale NaN must be a finite number \(1\/√headDim = 0.5 is the usual one\)/);
    expect(apply([1, 4, 3 * 258], { heads: 1, scale: 1 })).toThrow(/head dimension 258 .* exceeds 128; use at least 3 heads/);
    expect(() => attentionShape('causal_attention', [1, 0, 6], 1)).toThrow(/needs at least one sequence of one token/);
  });

  it('refuses a gradient through the saved logsumexp', () => {
    const g = createGraph();
    const qkv = g.param('qkv', [1, 3, 6]);
    const [, lse] = g.apply('causal_attention', [qkv], { heads: 1, scale: 1 });
    const [loss] = g.apply('sum', [g.apply('reshape', [lse], { shape: [3] })[0]], { axis: 0 });
    expect(() => gradients(g, loss, [qkv])).toThrow(/causal_attention's logsumexp output is saved for the backward and not differentiable/);
  });

  it('CausalSelfAttention checks its arguments and its input', () => {
    expect(() => new CausalSelfAttention(10, 3)).toThrow(/CausalSelfAttention: dim 10 must be a multiple of heads 3/);
    expect(() => new CausalSelfAttention(8, 0)).toThrow(/CausalSelfAttention: heads 0 must be a positive integer/);
    const store = new ParameterStore(engine(), { seed: 1 });
    const layer = new CausalSelfAttention(8, 2);
    layer.register(store);
    const g = createGraph();
    expect(() => layer.apply(g, g.input('x', [4, 8]), { store, training: true })).toThrow(/CausalSelfAttention\(dim=8, heads=2\) got input \[4, 8\]: expected \[batch, tokens, 8\]/);
    store.dispose();
  });

  it('refuses tiles over the workgroup limits', () => {
    const s = shape(1, 4, 1, 128);
    expect(() => causalAttentionForward(s, 1, { staged: true, rows: 300, tile: 4, block: 1 })).toThrow(/rows 300 must be an integer in \[1, 256\]/);
    expect(() => causalAttentionForward(s, 1, { staged: true, rows: 32, tile: 32, block: 1 })).toThrow(/causal_attention: a tile of 32 rows needs 32768 bytes of workgroup memory, over 16384; use at most 16 rows/);
    expect(() => causalAttentionForward(s, 1, { staged: false, rows: 32, tile: 32, block: 9 })).toThrow(/block 9 must be an integer in \[1, 8\]/);
    expect(() => causalAttentionBackward(s, 1, { staged: true, rows: 32, tile: 16, block: 1 })).toThrow(/causal_attention_backward: a tile of 16 rows needs 16512 bytes of workgroup memory, over 16384; use at most 15 rows/);
  });

  it('leaves no buffers alive', () => {
    expect(engine().stats.liveBuffers).toBe(0);
  });
});
