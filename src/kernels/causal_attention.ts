import { causalAttentionShader } from '../../shaders/causal_attention.js';
import { causalAttentionKeyGradShader, causalAttentionQueryGradShader } from '../../shaders/causal_attention_backward.js';
import type { TuneCandidate } from '../gpu/autotune.js';
import { KernelError, ShapeError } from '../gpu/errors.js';
import { ceilDiv, MAX_WORKGROUPS_PER_DIM } from './geometry.js';
import { UniformWriter, type KernelProgram, type KernelSpec } from './kernel.js';

/** Packed attention input [B, T, 3·heads·headDim] read as its parts. */
export interface AttentionShape {
  batch: number;
  tokens: number;
  heads: number;
  headDim: number;
}

/**
 * The largest head dimension: each invocation keeps up to four rows of it in registers (k, v and
 * their gradients), and a staged tile must still hold a few rows within 16 KiB.
 */
export const MAX_HEAD_DIM = 128;

/**
 * WebGPU's guaranteed workgroup memory (maxComputeWorkgroupStorageSize); SwiftShader offers no
 * more, so tiles are sized to fit it on every adapter.
 */
const WORKGROUP_BYTES = 16384;

/**
 * How a kernel walks the other operand's rows: `staged` (a workgroup of `rows` invocations stages
 * `tile` rows at a time in workgroup memory; GPUs) or direct (each invocation reads them from
 * storage, no barriers, `tile` unused; CPU adapters). `rows` is also the workgroup size; each
 * invocation owns `block` consecutive rows, reading each row of the other operand once for all.
 */
export interface AttentionTiles {
  staged: boolean;
  rows: number;
  tile: number;
  block: number;
}

/** Rows per invocation at most: each adds a few head rows of registers. */
const MAX_BLOCK = 8;

/**
 * The default on GPUs: 32 rows reuse each staged row, 32 invocations fill a SIMD group, and a GPT
 * head (Dh = 32 or 64) keeps a tile of 32 rows within 16 KiB. On software adapters: direct with 2
 * rows per invocation (SwiftShader, B = 12, H = 4, T = 64, Dh = 32: forward 18–25 ms CPU against
 * 61–75 ms staged and 28–39 ms direct with one row; 4 rows per invocation ran no faster and took
 * twice as long to compile, about 6 s of CPU for the three kernels).
 */
function defaultTiles(software: boolean): AttentionTiles {
  return software ? { staged: false, rows: 32, tile: 32, block: 2 } : { staged: true, rows: 32, tile: 32, block: 1 };
}

/** Checks qkv [B, T, 3·heads·Dh] and returns its parts; the message names `op` and the fix. */
export function attentionShape(op: string, qkv: readonly number[], heads: number): AttentionShape {
  if (!Number.isInteger(heads) || heads < 1) throw new ShapeError(`${op}: heads ${heads} must be a positive integer`);
  if (qkv.length !== 3) {
    throw new ShapeError(`${op}: qkv [${qkv.join(', ')}] must be [batch, tokens, 3·heads·headDim], the output of a fused qkv Linear`);
  }
  const [batch, tokens, features] = qkv;
  if (!(batch >= 1 && tokens >= 1)) throw new ShapeError(`${op}: qkv [${qkv.join(', ')}] needs at least one sequence of one token`);
  if (features % (3 * heads) !== 0) {
    throw new ShapeError(
      `${op}: qkv's last dimension ${features} is not 3·heads·headDim for ${heads} heads; it must be a multiple of ${3 * heads} (q, k and v of equal width, split evenly over the heads)`,
    );
  }
  const headDim = features / (3 * heads);
  if (headDim > MAX_HEAD_DIM) {
    throw new ShapeError(`${op}: head dimension ${headDim} (${features / 3} features over ${heads} heads) exceeds ${MAX_HEAD_DIM}; use at least ${Math.ceil(features / 3 / MAX_HEAD_DIM)} heads`);
  }
  for (const [what, n] of [['batch', batch], ['heads', heads]] as const) {
    if (n > MAX_WORKGROUPS_PER_DIM) throw new ShapeError(`${op}: ${what} ${n} exceeds ${MAX_WORKGROUPS_PER_DIM}, the workgroups one dispatch dimension may hold; split the batch`);
  }
  return { batch, tokens, heads, headDim };
}

/** The largest power-of-two tile of at most `tile` rows whose staged arrays fit workgroup memory. */
function fitTile(tile: number, bytesPerRow: number): number {
  let t = tile;
  while (t > 1 && t * bytesPerRow > WORKGROUP_BYTES) t = Math.floor(t / 2);
  return t;
}

/** `t` as it will run: the staged tile halved until it fits. */
const fitted = (t: AttentionTiles, bytesPerRow: number): AttentionTiles => (t.staged ? { ...t, tile: fitTile(t.tile, bytesPerRow) } : t);

function checkTiles(op: string, tiles: AttentionTiles, bytesPerRow: number): void {
  for (const what of ['rows', 'tile'] as const) {
    const n = tiles[what];
    if (!Number.isInteger(n) || n < 1 || n > 256) throw new ShapeError(`${op}: ${what} ${n} must be an integer in [1, 256] (SwiftShader's invocation limit)`);
  }
  if (!Number.isInteger(tiles.block) || tiles.block < 1 || tiles.block > MAX_BLOCK) {
    throw new ShapeError(`${op}: block ${tiles.block} must be an integer in [1, ${MAX_BLOCK}] (rows per invocation, held in registers)`);
  }
  if (tiles.staged && tiles.tile * bytesPerRow > WORKGROUP_BYTES) {
    throw new ShapeError(`${op}: a tile of ${tiles.tile} rows needs ${tiles.tile * bytesPerRow} bytes of workgroup memory, over ${WORKGROUP_BYTES}; use at most ${Math.floor(WORKGROUP_BYTES / bytesPerRow)} rows`);
  }
}

function launchGeometry(s: AttentionShape, tiles: AttentionTiles, scale: number) {
  // The direct kernels declare no TILE override, and a pipeline may set only declared ones.
  const constants: Record<string, number> = tiles.staged ? { ROWS: tiles.rows, TILE: tiles.tile } : { ROWS: tiles.rows };
  return {
    constants,
    workgroups: [ceilDiv(s.tokens, tiles.rows * tiles.block), s.heads, s.batch] as [number, number, number],
    uniforms: new UniformWriter().u32(s.tokens, s.heads).f32(scale).finish(),
  };
}

/**
 * Bytes per staged row, rows held as ⌈Dh/4⌉ vec4s: forward and dq stage k and v; dk/dv stage q,
 * dO, lse and D.
 */
const stagedQueryBytes = (dh: number) => 32 * Math.ceil(dh / 4);
const stagedKeyBytes = (dh: number) => 32 * Math.ceil(dh / 4) + 8;

/**
 * y [B, T, heads·Dh] and lse [B, heads, T] = log Σ_j≤i exp(s_ij) from qkv. Bindings: qkv, y, lse.
 * `tiles` defaults to the GPU default, its tile halved while it exceeds 16 KiB.
 */
export function causalAttentionForward(s: AttentionShape, scale: number, tiles?: AttentionTiles): KernelSpec {
  const t = tiles ?? fitted(defaultTiles(false), stagedQueryBytes(s.headDim));
  checkTiles('causal_attention', t, stagedQueryBytes(s.headDim));
  return {
    name: 'causal_attention',
    code: causalAttentionShader(s.headDim, t.staged, t.block),
    entryPoint: 'main',
    bindings: ['read', 'write', 'write', 'uniform'],
    ...launchGeometry(s, t, scale),
  };
}

/**
 * dqkv [B, T, 3·heads·Dh] from dy, qkv, y, lse (io in that order, then dqkv): one launch per query
 * row block writes dq and D = rowsum(dy ⊙ y) into a scratch [B, heads, T], then one per key row
 * block writes dk and dv. Every element of dqkv is written by exactly one invocation.
 */
export function causalAttentionBackward(s: AttentionShape, scale: number, tiles?: AttentionTiles): KernelProgram {
  // One configuration for both kernels, fitted to the wider staged row (the dk/dv kernel's).
  const t = tiles ?? fitted(defaultTiles(false), stagedKeyBytes(s.headDim));
  checkTiles('causal_attention_backward', t, stagedKeyBytes(s.headDim));
  const queryGrad: KernelSpec = {
    name: 'causal_attention_backward_dq',
    code: causalAttentionQueryGradShader(s.headDim, t.staged, t.block),
    entryPoint: 'main',
    bindings: ['read', 'read', 'read', 'read', 'write', 'write', 'uniform'],
    ...launchGeometry(s, t, scale),
  };
  const keyGrad: KernelSpec = {
    name: 'causal_attention_backward_dkv',
    code: causalAttentionKeyGradShader(s.headDim, t.staged, t.block),
    entryPoint: 'main',
    bindings: ['read', 'read', 'read', 'read', 'write', 'uniform'],
    ...launchGeometry(s, t, scale),
  };
  return {
    name: 'causal_attention_backward',
    scratch: [Math.max(1, s.batch * s.heads * s.tokens) * 4],
    launches: [
      { spec: queryGrad, args: [{ io: 0 }, { io: 1 }, { io: 2 }, { io: 3 }, { io: 4 }, { scratch: 0 }] },
      { spec: keyGrad, args: [{ io: 0 }, { io: 1 }, { io: 3 }, { scratch: 0 }, { io: 4 }] },
    ],
  };
}

/**
 * Configurations the autotuner may time, fitted to 16 KiB. More rows per workgroup or per
 * invocation reuse each row read more; fewer give a short sequence more workgroups.
 */
const CANDIDATES: readonly AttentionTiles[] = [
  { staged: true, rows: 32, tile: 32, block: 1 },
  { staged: true, rows: 64, tile: 32, block: 1 },
  { staged: true, rows: 16, tile: 16, block: 1 },
  { staged: true, rows: 32, tile: 32, block: 2 },
  { staged: false, rows: 32, tile: 32, block: 2 },
  { staged: false, rows: 16, tile: 32, block: 4 },
  { staged: false, rows: 8, tile: 32, block: 4 },
  { staged: false, rows: 32, tile: 32, block: 1 },
];

/** 's32t32b1': staged, rows 32, tile 32, one row per invocation; 'd16b4': direct, rows 16, 4 per invocation. */
export const tilesId = (t: AttentionTiles): string => (t.staged ? `s${t.rows}t${t.tile}b${t.block}` : `d${t.rows}b${t.block}`);

export function tilesOf(id: string): AttentionTiles {
  const staged = /^s(\d+)t(\d+)b(\d+)$/.exec(id);
  if (staged) return { staged: true, rows: Number(staged[1]), tile: Number(staged[2]), block: Number(staged[3]) };
  const direct = /^d(\d+)b(\d+)$/.exec(id);
  if (direct) return { staged: false, rows: Number(direct[1]), tile: 32, block: Number(direct[2]) };
  throw new KernelError('causal_attention', `unknown tile configuration '${id}'; expected e.g. 's32t32b1' (staged, rows 32, tile 32, 1 row per invocation) or 'd16b4' (direct, rows 16, 4 per invocation)`);
}

/** The candidates fitted to `bytesPerRow`, this adapter's default first, without repeats. */
function candidateTiles(bytesPerRow: number, software: boolean): AttentionTiles[] {
  const seen = new Map<string, AttentionTiles>();
  for (const c of [defaultTiles(software), ...CANDIDATES]) {
    const t = fitted(c, bytesPerRow);
    if (!seen.has(tilesId(t))) seen.set(tilesId(t), t);
  }
  return [...seen.values()];
}

/** Powers of two: shapes in one bucket share a tuned configuration. */
const bucket = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));
const shapeClass = (kind: string, s: AttentionShape) => `${kind}.dh${s.headDim}.t${bucket(s.tokens)}.bh${bucket(s.batch * s.heads)}`;

export interface AttentionTuning {
  shapeClass: string;
  candidates: TuneCandidate[];
  /** Sizes of the buffers the candidates bind, in order. */
  bufferBytes: number[];
}

/** Forward candidates, binding qkv, y, lse; the first is this adapter's default. */
export function causalAttentionForwardTuning(s: AttentionShape, scale: number, software: boolean): AttentionTuning {
  const n = sizesOf(s);
  return {
    shapeClass: shapeClass('causal_attention', s),
    candidates: candidateTiles(stagedQueryBytes(s.headDim), software).map((t) => ({ id: tilesId(t), spec: causalAttentionForward(s, scale, t) })),
    bufferBytes: [n.qkv, n.y, n.stat].map((v) => v * 4),
  };
}

/** Backward candidates, binding dy, qkv, y, lse, dqkv, D: the dq launch, then the dk/dv launch. */
export function causalAttentionBackwardTuning(s: AttentionShape, scale: number, software: boolean): AttentionTuning {
  const n = sizesOf(s);
  return {
    shapeClass: shapeClass('causal_attention_backward', s),
    candidates: candidateTiles(stagedKeyBytes(s.headDim), software).map((t) => {
      const [dq, dkv] = causalAttentionBackward(s, scale, t).launches;
      return { id: tilesId(t), spec: dq.spec, after: [{ spec: dkv.spec, buffers: [0, 1, 3, 5, 4] }] };
    }),
    bufferBytes: [n.y, n.qkv, n.y, n.stat, n.qkv, n.stat].map((v) => v * 4),
  };
}

function sizesOf(s: AttentionShape) {
  const rows = s.batch * s.tokens;
  const e = s.heads * s.headDim;
  return { qkv: rows * 3 * e, y: rows * e, stat: s.batch * s.heads * s.tokens };
}
