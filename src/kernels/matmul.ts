import type { MatmulShaderOptions } from '../../shaders/matmul.js';
import { matmulDoubleBufferedShader } from '../../shaders/matmul_double_buffered.js';
import { matmulRegistersShader } from '../../shaders/matmul_registers.js';
import { matmulSplitKReduceShader } from '../../shaders/matmul_splitk.js';
import { matmulSubgroupShader } from '../../shaders/matmul_subgroup.js';
import type { TuneCandidate } from '../gpu/autotune.js';
import { matmulTiledShader } from '../../shaders/matmul_tiled.js';
import { activationConstants, type ActivationSpec } from '../../shaders/lib/activations.js';
import { KernelConfigError, ShapeError } from '../gpu/errors.js';
import { MAX_WORKGROUPS_PER_DIM, ceilDiv, dispatch1D } from './geometry.js';
import { UniformWriter, type BindingKind, type KernelProgram, type KernelSpec } from './kernel.js';

/**
 * C[b] = op(A[b]) · op(B[b]) (+ bias) then activation, or ⊙ activate_grad(saved) for backward.
 * op(A) is M×K and op(B) is K×N; A is stored M×K, or K×M when `transA` (read transposed in place),
 * B is stored K×N, or N×K when `transB`. C is batch×M×N, row-major.
 */
export interface MatmulParams {
  batch: number;
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  /** Elements between consecutive batch matrices of A; default M·K; 0 reuses one matrix for every batch. */
  strideA?: number;
  /** Likewise for B; default K·N. */
  strideB?: number;
  /** Add bias[n] (a length-N vector) to every row. */
  bias?: boolean;
  /** Applied after the bias. */
  activation?: ActivationSpec;
  /**
   * Backward through an activation: multiply the product elementwise by activate_grad(saved[b, m, n]),
   * `saved` being what the forward pass kept (activationSaves). Not combinable with `activation`.
   */
  prologue?: ActivationSpec;
  /**
   * Also output rowSum[b, m] = Σ_k op(A)[b, m, k], the raw row sums of op(A) (no prologue, bias or
   * activation), e.g. a bias gradient Σ_batch dY alongside dW = dYᵀ·X. One more output after C.
   */
  rowSumA?: boolean;
}

/**
 * One autotuning candidate. `registers`: no workgroup memory, each invocation a tm×tn block.
 * `tiled`: (wgY·tm)×(wgX·tn) tiles staged in workgroup memory, K step bk. `splits` > 1 splits K
 * into that many chunks summed by a second launch. `double`: like `tiled` with two tiles per operand,
 * the next K step staged while the current one is multiplied (shaders/matmul_double_buffered.ts).
 * `subgroup`: like `registers`, quads of invocations sharing operand fragments through subgroup
 * operations (shaders/matmul_subgroup.ts); its WGSL enables `subgroups`, so the autotuner offers it
 * only on devices with that feature (tune_limits.ts).
 */
export interface MatmulConfig {
  id: string;
  kind: 'registers' | 'tiled' | 'double' | 'subgroup';
  tm: number;
  tn: number;
  wgX: number;
  wgY: number;
  bk: number;
  splits: number;
}

function registers(tm: number, tn: number, wgX: number, wgY: number, splits = 1): MatmulConfig {
  const split = splits > 1 ? `-split${splits}` : '';
  return { id: `reg${tm}x${tn}-wg${wgX}x${wgY}${split}`, kind: 'registers', tm, tn, wgX, wgY, bk: 4, splits };
}

function tiled(tm: number, tn: number, wgX: number, wgY: number, bk: number): MatmulConfig {
  return { id: `tile${wgY * tm}x${wgX * tn}-k${bk}`, kind: 'tiled', tm, tn, wgX, wgY, bk, splits: 1 };
}

function doubleBuffered(tm: number, tn: number, wgX: number, wgY: number, bk: number, splits = 1): MatmulConfig {
  const split = splits > 1 ? `-split${splits}` : '';
  return { id: `dbuf${wgY * tm}x${wgX * tn}-r${tm}x${tn}-k${bk}${split}`, kind: 'double', tm, tn, wgX, wgY, bk, splits };
}

function subgroup(tm: number, tn: number, wgX: number, wgY: number, splits = 1): MatmulConfig {
  // Quads take 2×2 groups of blocks: both workgroup sides even.
  if (wgX % 2 !== 0 || wgY % 2 !== 0) throw new Error(`matmul subgroup config: workgroup ${wgX}×${wgY} must have even sides`);
  const split = splits > 1 ? `-split${splits}` : '';
  return { id: `sg${tm}x${tn}-wg${wgX}x${wgY}${split}`, kind: 'subgroup', tm, tn, wgX, wgY, bk: 4, splits };
}

/** Every configuration this family knows, by id (tests force each one). */
export const MATMUL_CONFIGS: readonly MatmulConfig[] = [
  // 8×8 blocks (sixteen vec4 accumulators) measured fastest on SwiftShader: ~1.5× the 4×4 block
  // per CPU-second at n = 512..1024, every transposition.
  registers(8, 8, 8, 8),
  registers(4, 8, 8, 8),
  registers(8, 4, 8, 8),
  registers(4, 4, 16, 4),
  tiled(4, 4, 16, 16, 16),
  // A K step of 8 halves the unrolled body, which SwiftShader compiles several times faster.
  tiled(4, 4, 16, 8, 8),
  // Split-K works on small outputs, where small blocks keep more invocations busy.
  registers(4, 4, 16, 4, 4),
  registers(4, 4, 16, 4, 16),
  // Double-buffered 8×8 register blocks, for GPUs (design, unmeasured on a GPU): a 128×128 tile of
  // 256 invocations in 16 KiB of workgroup memory, and a 64×64 tile of 64 invocations in 8 KiB for
  // devices with smaller workgroup limits (WebGPU compatibility mode's 128 invocations).
  doubleBuffered(8, 8, 16, 16, 8),
  doubleBuffered(8, 8, 8, 8, 8),
  // Sized for GPU limits (1024 invocations, 48 KiB of workgroup memory; refused on smaller devices,
  // SwiftShader included, by tune_limits.ts): a 128×128 tile of 32×32 invocations with 4×4 blocks,
  // and a 256×128 tile of 16×32 invocations with 8×8 blocks and a K step of 16 in exactly 48 KiB.
  doubleBuffered(4, 4, 32, 32, 8),
  doubleBuffered(8, 8, 16, 32, 16),
  // Split-K on a 64×64 tile: a long reduction into a small output (the CNN's 9216→128 layer, 64
  // rows per batch) becomes 2·splits workgroups instead of 2.
  doubleBuffered(8, 8, 8, 8, 8, 8),
  doubleBuffered(8, 8, 8, 8, 8, 32),
  // Subgroup quads sharing operand fragments (devices with the `subgroups` feature).
  subgroup(8, 8, 8, 8),
  subgroup(4, 4, 16, 4),
  subgroup(4, 4, 16, 4, 16),
];

function config(id: string): MatmulConfig {
  const c = MATMUL_CONFIGS.find((x) => x.id === id);
  if (!c) throw new KernelConfigError('matmul', 'matmul', id, `matmul has no config '${id}'; use one of ${MATMUL_CONFIGS.map((x) => x.id).join(', ')}`);
  return c;
}

type ShapeKind = 'splitk' | 'small' | 'large';

/**
 * Products with few outputs and a long K (weight gradients Xᵀ·dY, K = batch size) leave most of a GPU
 * idle unless K is split; small outputs favour narrow tiles; the rest is "large".
 */
function shapeKind(p: MatmulParams): ShapeKind {
  const outputs = p.batch * p.M * p.N;
  if (p.K >= 256 && outputs <= 65_536 && p.K >= 4 * Math.max(p.M, p.N)) return 'splitk';
  if (Math.min(p.M, p.N) < 256) return 'small';
  return 'large';
}

function pow2Bucket(n: number): number {
  return 2 ** Math.ceil(Math.log2(n));
}

/**
 * The autotuner's cache key: transposition, shape kind, power-of-two size buckets, batching and
 * vec4 alignment (which changes the generated loads, hence the speed).
 */
export function matmulShapeClass(p: MatmulParams): string {
  const o = shaderOptions(p, false);
  const t = `${p.transA ? 't' : 'n'}${p.transB ? 't' : 'n'}`;
  const v = `${+o.vecA}${+o.vecB}${+o.vecC}`;
  const b = p.batch > 1 ? 'batched' : 'single';
  return `matmul.${t}.${shapeKind(p)}.M${pow2Bucket(p.M)}.N${pow2Bucket(p.N)}.K${pow2Bucket(p.K)}.${b}.v${v}`;
}

/**
 * Candidate configurations for this shape's class, the default first: the register-blocked kernel,
 * which is measured fastest on CPU adapters and sound on GPUs; the tuner may pick a workgroup-tiled
 * one where barriers are cheap.
 */
export function matmulCandidates(p: MatmulParams): MatmulConfig[] {
  checkParams(p);
  const kind = shapeKind(p);
  const ids: string[] = [];
  // Fewer than ~8 workgroups of 8×8 blocks would leave cores idle: start small outputs on 4×4 blocks.
  const few = p.batch * p.M * p.N < 8 * 64 * 64;
  if (kind === 'splitk') {
    const direct = ['reg4x4-wg16x4', 'reg8x8-wg8x8'];
    // Each chunk keeps at least 64 k steps, so the partial sums stay worth a launch.
    const split = ['reg4x4-wg16x4-split4', 'reg4x4-wg16x4-split16'].filter((id) => p.K / config(id).splits >= 64);
    const tinyOutput = p.batch * p.M * p.N <= 4096;
    ids.push(...(tinyOutput ? [...split, ...direct] : [...direct, ...split]));
    // For GPUs: the same splits on a 64×64 double-buffered tile, and on subgroup quads.
    const gpuSplit = ['dbuf64x64-r8x8-k8-split8', 'dbuf64x64-r8x8-k8-split32', 'sg4x4-wg16x4-split16'];
    ids.push(...gpuSplit.filter((id) => p.K / config(id).splits >= 64));
  } else if (kind === 'small') {
    ids.push(...(few ? ['reg4x4-wg16x4', 'reg8x8-wg8x8'] : ['reg8x8-wg8x8', 'reg4x4-wg16x4']), 'reg4x8-wg8x8', 'tile32x64-k8', 'dbuf64x64-r8x8-k8');
    ids.push('sg8x8-wg8x8', 'sg4x4-wg16x4');
  } else {
    ids.push('reg8x8-wg8x8', 'reg4x8-wg8x8', 'reg8x4-wg8x8', 'reg4x4-wg16x4', 'tile64x64-k16', 'tile32x64-k8');
    ids.push('dbuf128x128-r8x8-k8', 'dbuf64x64-r8x8-k8', 'dbuf128x128-r4x4-k8', 'dbuf256x128-r8x8-k16', 'sg8x8-wg8x8');
  }
  return ids.map(config);
}

function describe(p: MatmulParams): string {
  const a = p.transA ? `[${p.K}, ${p.M}]ᵀ` : `[${p.M}, ${p.K}]`;
  const b = p.transB ? `[${p.N}, ${p.K}]ᵀ` : `[${p.K}, ${p.N}]`;
  const batch = p.batch > 1 ? `batch ${p.batch} × ` : '';
  return `matmul ${batch}A ${a} · B ${b}`;
}

function checkParams(p: MatmulParams): void {
  for (const [name, v] of [['batch', p.batch], ['M', p.M], ['N', p.N], ['K', p.K]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new ShapeError(`${describe(p)}: ${name} = ${v} must be a positive integer`);
  }
  for (const [name, v] of [['strideA', p.strideA], ['strideB', p.strideB]] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 0)) {
      throw new ShapeError(`${describe(p)}: ${name} = ${v} must be a non-negative integer`);
    }
  }
  const act = p.activation?.kind ?? 'none';
  if (p.prologue && p.prologue.kind !== 'none' && act !== 'none') {
    throw new ShapeError(
      `${describe(p)}: a gradient prologue (${p.prologue.kind}) and an output activation (${act}) cannot share one kernel; ` +
        'apply the activation in a separate op',
    );
  }
  if (p.batch > MAX_WORKGROUPS_PER_DIM) {
    throw new ShapeError(`${describe(p)}: batch ${p.batch} exceeds ${MAX_WORKGROUPS_PER_DIM}; split the batch into several calls`);
  }
}

function shaderOptions(p: MatmulParams, partial: boolean): MatmulShaderOptions {
  const strideA = p.strideA ?? p.M * p.K;
  const strideB = p.strideB ?? p.K * p.N;
  const prologue = p.prologue && p.prologue.kind !== 'none' ? p.prologue.kind : undefined;
  return {
    transA: p.transA,
    transB: p.transB,
    // vec4 binding needs every row start and batch start on a 16-byte boundary.
    vecA: (p.transA ? p.M : p.K) % 4 === 0 && strideA % 4 === 0,
    vecB: (p.transB ? p.K : p.N) % 4 === 0 && strideB % 4 === 0,
    vecC: p.N % 4 === 0,
    kTail: p.K % 4 !== 0,
    partial,
    bias: !!p.bias,
    activation: p.activation?.kind ?? 'none',
    prologue,
    rowSum: !!p.rowSumA,
  };
}

function productSpec(p: MatmulParams, c: MatmulConfig, partial: boolean, splits: number, kChunk: number): KernelSpec {
  const o = shaderOptions(p, partial);
  const shaders: Record<MatmulConfig['kind'], () => string> = {
    tiled: () => matmulTiledShader(o, c.tm, c.tn, c.bk),
    double: () => matmulDoubleBufferedShader(o, c.tm, c.tn, c.bk),
    subgroup: () => matmulSubgroupShader(o, c.tm, c.tn),
    registers: () => matmulRegistersShader(o, c.tm, c.tn),
  };
  const code = shaders[c.kind]();
  const bindings: BindingKind[] = ['read', 'read'];
  if (o.bias && !partial) bindings.push('read');
  if (o.prologue && !partial) bindings.push('read');
  bindings.push('write');
  if (o.rowSum) bindings.push('write');
  bindings.push('uniform');
  const groupsX = ceilDiv(p.N, c.tn * c.wgX);
  const groupsY = ceilDiv(p.M, c.tm * c.wgY);
  const groupsZ = p.batch * splits;
  for (const [axis, n] of [['x', groupsX], ['y', groupsY], ['z', groupsZ]] as const) {
    if (n > MAX_WORKGROUPS_PER_DIM) {
      throw new ShapeError(`${describe(p)}: config ${c.id} needs ${n} workgroups along ${axis} (limit ${MAX_WORKGROUPS_PER_DIM}); use a larger tile`);
    }
  }
  const epilogue = [p.activation, p.prologue].find((a) => a && a.kind !== 'none');
  const suffix = [p.transA ? 't' : 'n', p.transB ? 't' : 'n'].join('');
  return {
    name: `matmul_${suffix}_${c.id}${p.rowSumA ? '_rowsum' : ''}${partial ? '_partial' : ''}`,
    code,
    entryPoint: 'main',
    constants: { WG_X: c.wgX, WG_Y: c.wgY, ...(epilogue && !partial ? activationConstants(epilogue) : {}) },
    bindings,
    workgroups: [groupsX, groupsY, groupsZ],
    uniforms: new UniformWriter()
      .u32(p.M, p.N, p.K, p.batch, p.strideA ?? p.M * p.K, p.strideB ?? p.K * p.N, kChunk, splits)
      .finish(),
  };
}

/** Split count actually used: chunks are whole multiples of 4 along K (vec4 loads stay aligned). */
function splitGeometry(K: number, splits: number): { splits: number; kChunk: number } {
  if (splits <= 1) return { splits: 1, kChunk: K };
  const kChunk = Math.ceil(Math.ceil(K / splits) / 4) * 4;
  return { splits: Math.ceil(K / kChunk), kChunk };
}

/**
 * The launches of one matmul. io order: A, B, [bias], [saved], C, [rowSum] — bias present when
 * `p.bias`, saved when `p.prologue` is given (with a kind other than 'none'), rowSum (batch·M floats)
 * when `p.rowSumA`. Split-K configs use one scratch buffer of batch·splits·M·N floats (and one of
 * batch·splits·M for the row sums): a partial-product launch, then a reduce launch that applies the
 * prologue, bias and activation and sums the row sums.
 */
export function matmulProgram(p: MatmulParams, c: MatmulConfig): KernelProgram {
  checkParams(p);
  const { splits, kChunk } = splitGeometry(p.K, c.splits);
  if (splits === 1) {
    const spec = productSpec(p, c, false, 1, p.K);
    const inputs = spec.bindings.filter((b) => b !== 'uniform').length;
    return { name: spec.name, scratch: [], launches: [{ spec, args: Array.from({ length: inputs }, (_, io) => ({ io })) }] };
  }
  const partial = productSpec(p, c, true, splits, kChunk);
  const hasPrologue = !!p.prologue && p.prologue.kind !== 'none';
  const total = p.batch * p.M * p.N;
  const reduceBindings: BindingKind[] = ['read'];
  const reduceArgs: KernelProgram['launches'][number]['args'] = [{ scratch: 0 }];
  let io = 2;
  if (p.bias) {
    reduceBindings.push('read');
    reduceArgs.push({ io: io++ });
  }
  if (hasPrologue) {
    reduceBindings.push('read');
    reduceArgs.push({ io: io++ });
  }
  reduceBindings.push('write');
  reduceArgs.push({ io });
  if (p.rowSumA) {
    reduceBindings.push('read', 'write');
    reduceArgs.push({ scratch: 1 }, { io: io + 1 });
  }
  reduceBindings.push('uniform');
  const epilogue = [p.activation, p.prologue].find((a) => a && a.kind !== 'none');
  const WG = 256;
  const reduce: KernelSpec = {
    name: `${partial.name.replace(/_partial$/, '')}_reduce`,
    code: matmulSplitKReduceShader({
      bias: !!p.bias,
      activation: p.activation?.kind ?? 'none',
      prologue: hasPrologue ? p.prologue!.kind : undefined,
      rowSum: !!p.rowSumA,
    }),
    entryPoint: 'main',
    constants: { WG, ...(epilogue ? activationConstants(epilogue) : {}) },
    bindings: reduceBindings,
    workgroups: dispatch1D(total, WG),
    uniforms: new UniformWriter().u32(total, p.M * p.N, p.N, splits).finish(),
  };
  return {
    name: reduce.name.replace(/_reduce$/, ''),
    scratch: p.rowSumA ? [total * splits * 4, p.batch * splits * p.M * 4] : [total * splits * 4],
    launches: [
      { spec: partial, args: p.rowSumA ? [{ io: 0 }, { io: 1 }, { scratch: 0 }, { scratch: 1 }] : [{ io: 0 }, { io: 1 }, { scratch: 0 }] },
      { spec: reduce, args: reduceArgs },
    ],
  };
}

/**
 * The problem the autotuner times: the real one with M and N capped near 512, K near 1024 and the
 * batch at 4, keeping each side's remainder mod 4 (so the same vec4/scalar code is timed). Timing
 * every candidate at full size costs minutes on a CPU adapter at n = 2048 (a tiled candidate runs
 * ~10× slower there), while the ranking is a property of the kernel shape, not of the size. Strides
 * stay those of the full problem, so the capped problem reads inside the real operands.
 */
function tuneProblem(p: MatmulParams): MatmulParams {
  const cap = (n: number, limit: number) => (n > limit + 4 ? limit + (n % 4) : n);
  return {
    ...p,
    // Every candidate pays the same for the row sums; the tuner binds (A, B, T) only.
    rowSumA: false,
    batch: Math.min(p.batch, 4),
    M: cap(p.M, 512),
    N: cap(p.N, 512),
    K: cap(p.K, 1024),
    strideA: p.strideA ?? p.M * p.K,
    strideB: p.strideB ?? p.K * p.N,
  };
}

/**
 * What the autotuner times for a candidate: its launches without epilogue on the capped problem of
 * `tuneProblem`, bound to the buffers of `matmulTuneBufferBytes` (A, B, T, C): the product alone
 * into T, or for split-K the partial products into T and the reduce of T into C, whose
 * splits·M·N reads are part of the candidate's cost. The epilogue costs every candidate the same.
 */
export function matmulTuneCandidate(p: MatmulParams, c: MatmulConfig): TuneCandidate {
  checkParams(p);
  const [product, reduce] = matmulProgram(tuneProblem(p), c).launches;
  return { id: c.id, spec: product.spec, after: reduce ? [{ spec: reduce.spec, buffers: [2, 3] }] : [] };
}

/** Bytes of the four buffers the candidates of `matmulTuneCandidate` bind: A, B, T (partials), C. */
export function matmulTuneBufferBytes(p: MatmulParams, candidates: readonly MatmulConfig[]): [number, number, number, number] {
  const t = tuneProblem(p);
  const splits = Math.max(1, ...candidates.map((c) => splitGeometry(t.K, c.splits).splits));
  const out = t.batch * t.M * t.N * 4;
  return [p.batch * p.M * p.K * 4, p.batch * p.K * p.N * 4, out * splits, out];
}

/** Looks a configuration up by id (e.g. an autotuner winner). */
export function matmulConfig(id: string): MatmulConfig {
  return config(id);
}
