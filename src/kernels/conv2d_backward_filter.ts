import { biasGradShader, convFilterPartialShader, splitSumShader } from '../../shaders/conv2d_backward_filter.js';
import type { TuneCandidate } from '../gpu/autotune.js';
import { KernelConfigError } from '../gpu/errors.js';
import { filterDoubleBufferedLaunch, type FilterDoubleBufferedBlock } from './conv2d_backward_filter_double_buffered.js';
import type { Pair } from './conv2d_gemm.js';
import { ceilDiv, dispatch1D } from './geometry.js';
import { UniformWriter, type ArgRef, type KernelProgram, type KernelSpec } from './kernel.js';

/**
 * A weight gradient dW [m, c, KH, KW] = sum over (n, oy, ox) of grad[n, m, oy, ox] times src gathered
 * forward at (oy, ox) (see shaders/conv2d_backward_filter.ts); optionally also db[k] = sum of one
 * of the two tensors over (n, y, x).
 */
export interface ConvFilter {
  name: string;
  batch: number;
  m: number;
  c: number;
  src: Pair;
  grad: Pair;
  kernel: Pair;
  stride: Pair;
  padding: Pair;
  dilation: Pair;
}

/** Which op buffers (io indices) the program reads and writes. */
export interface ConvFilterIo {
  grad: number;
  src: number;
  dw: number;
  /** Bias gradient: sum `from` [batch, channels, h, w] over all but channels into `out`. */
  bias?: { from: number; channels: number; plane: number; out: number };
}

/**
 * `split_CxP_T`: each invocation C rows × 4 columns; the (n, oy) reduction is split until about T
 * invocations run (T ≈ what keeps the adapter busy; long splits amortise the partial sums better).
 * `dbuf_split_MxC_8x8`: an M rows × C columns tile, double-buffered in workgroup memory, 8×8
 * register blocks, the (n, oy, ox) reduction split until about 128 (or 512) workgroups run
 * (shaders/conv2d_backward_filter_double_buffered.ts).
 */
export const CONV_FILTER_CONFIGS = ['split_4x4_4k', 'split_8x4_4k', 'split_4x4_32k', 'dbuf_split_128x128_8x8', 'dbuf_split_64x64_8x8'] as const;
export type ConvFilterConfig = (typeof CONV_FILTER_CONFIGS)[number];

type DoubleBufferedFilterConfig = 'dbuf_split_128x128_8x8' | 'dbuf_split_64x64_8x8';

/**
 * For GPUs (designed, not measured on one): 128×128 takes 256 invocations and 16 KiB of workgroup
 * memory, 64×64 takes 64 invocations and 8 KiB, for small filters (Cout or Cin·KH·KW under 128).
 */
export const CONV_FILTER_DOUBLE_BUFFERED_BLOCKS: Record<DoubleBufferedFilterConfig, FilterDoubleBufferedBlock> = {
  dbuf_split_128x128_8x8: { wgX: 16, wgY: 16, tm: 8, tn: 8, bk: 8, targetWorkgroups: 128 },
  dbuf_split_64x64_8x8: { wgX: 8, wgY: 8, tm: 8, tn: 8, bk: 8, targetWorkgroups: 512 },
};

function isDoubleBuffered(config: ConvFilterConfig): config is DoubleBufferedFilterConfig {
  return config in CONV_FILTER_DOUBLE_BUFFERED_BLOCKS;
}

const FILTER_BLOCKS: Record<Exclude<ConvFilterConfig, DoubleBufferedFilterConfig>, { groups: number; target: number }> = {
  split_4x4_4k: { groups: 1, target: 4096 },
  split_8x4_4k: { groups: 2, target: 4096 },
  split_4x4_32k: { groups: 1, target: 32768 },
};

/** Invocations sharing one dW block, each taking every PHASES-th output column (see the shader). */
const PHASES = 4;
/** Fewer output positions than this per invocation spend more on partial sums than on products. */
const MIN_POSITIONS_PER_INVOCATION = 64;

function checked(f: ConvFilter): boolean {
  const reach = (d: 0 | 1) => (f.grad[d] - 1) * f.stride[d] + (f.kernel[d] - 1) * f.dilation[d];
  return f.padding[0] !== 0 || f.padding[1] !== 0 || reach(0) >= f.src[0] || reach(1) >= f.src[1];
}

interface FilterPlan {
  spec: KernelSpec;
  /** Partial sums to add: PHASES per split. */
  slices: number;
  cols: number;
}

function partialLaunch(f: ConvFilter, config: ConvFilterConfig): FilterPlan {
  // Ids arrive as strings from eager options and checkpoints: an unknown one is named here, not a TypeError below.
  if (!CONV_FILTER_CONFIGS.includes(config)) {
    throw new KernelConfigError(f.name, f.name, String(config), `${f.name} has no config '${String(config)}'; use one of ${CONV_FILTER_CONFIGS.join(', ')}`);
  }
  if (isDoubleBuffered(config)) return filterDoubleBufferedLaunch(f, `${f.name}_${config}`, CONV_FILTER_DOUBLE_BUFFERED_BLOCKS[config], checked(f));
  const { groups, target } = FILTER_BLOCKS[config];
  const cols = f.c * f.kernel[0] * f.kernel[1];
  const rows = f.batch * f.grad[0];
  const colBlocks = ceilDiv(cols, 4);
  const mBlocks = ceilDiv(f.m, groups * 4);
  const wanted = Math.min(rows, Math.max(1, Math.ceil(target / (PHASES * colBlocks * mBlocks))));
  const rowsPerSplit = Math.max(ceilDiv(rows, wanted), ceilDiv(MIN_POSITIONS_PER_INVOCATION * PHASES, f.grad[1]));
  const splits = ceilDiv(rows, rowsPerSplit);
  // Column blocks run along workgroup y: as many rows as there are blocks, up to 16.
  const wgY = Math.min(16, 2 ** Math.floor(Math.log2(colBlocks)));
  const spec: KernelSpec = {
    name: `${f.name}_${config}`,
    code: convFilterPartialShader({ kernel: f.kernel, checked: checked(f) }, groups),
    entryPoint: 'main',
    constants: { PHASES, WG_Y: wgY },
    bindings: ['read', 'read', 'write', 'uniform'],
    workgroups: [mBlocks, ceilDiv(colBlocks, wgY), splits],
    uniforms: new UniformWriter()
      .i32(f.batch, f.m, f.c, rows)
      .i32(...f.src, ...f.grad)
      .i32(...f.stride, ...f.padding)
      .i32(...f.dilation, cols, rowsPerSplit)
      .finish(),
  };
  return { spec, slices: splits * PHASES, cols };
}

const SUM_WG = 64;
const BIAS_WG = 64;

export function biasGradSpec(name: string, batch: number, channels: number, plane: number): KernelSpec {
  return {
    name: `${name}_bias`,
    code: biasGradShader(),
    entryPoint: 'main',
    constants: { WG: BIAS_WG },
    bindings: ['read', 'write', 'uniform'],
    workgroups: [channels, 1, 1],
    uniforms: new UniformWriter().u32(batch, channels, plane).finish(),
  };
}

/** The launch that adds the `slices` partial products (scratch) into dW. */
function splitSumSpec(f: ConvFilter, slices: number, cols: number): KernelSpec {
  const count = f.m * cols;
  return {
    name: `${f.name}_split_sum`,
    code: splitSumShader(),
    entryPoint: 'main',
    constants: { WG: SUM_WG },
    bindings: ['read', 'write', 'uniform'],
    workgroups: dispatch1D(count, SUM_WG),
    uniforms: new UniformWriter().u32(count, slices).finish(),
  };
}

/** Partial products into scratch 0 ([slices, m, cols]), then their sum into dW; then the bias gradient, if asked. */
export function convFilterProgram(f: ConvFilter, io: ConvFilterIo, config: ConvFilterConfig): KernelProgram {
  const { spec, slices, cols } = partialLaunch(f, config);
  const launches: { spec: KernelSpec; args: ArgRef[] }[] = [
    { spec, args: [{ io: io.grad }, { io: io.src }, { scratch: 0 }] },
    { spec: splitSumSpec(f, slices, cols), args: [{ scratch: 0 }, { io: io.dw }] },
  ];
  if (io.bias) {
    const b = io.bias;
    launches.push({ spec: biasGradSpec(f.name, f.batch, b.channels, b.plane), args: [{ io: b.from }, { io: b.out }] });
  }
  return { name: f.name, scratch: [slices * f.m * cols * 4], launches };
}

/**
 * Tuning of backward-filter: each candidate's partial products, bound to (grad, src, scratch), then
 * the sum of its partials from scratch into dW (bound to scratch and a fourth buffer), since
 * candidates that split more leave more partials to add. `tuneBytes` are the sizes of the scratch
 * (enough for every candidate) and dW buffers to bind after grad and src.
 */
export function convFilterTuning(f: ConvFilter): { shapeClass: string; candidates: TuneCandidate[]; tuneBytes: [number, number] } {
  const plans = CONV_FILTER_CONFIGS.map((id) => ({ id, ...partialLaunch(f, id) }));
  const b = (n: number) => Math.ceil(Math.log2(Math.max(1, n)));
  return {
    shapeClass: `${f.name}|m${b(f.m)}|c${b(f.c)}|r${b(f.batch * f.grad[0] * f.grad[1])}|k${f.kernel.join('x')}`,
    candidates: plans.map((p) => ({ id: p.id, spec: p.spec, after: [{ spec: splitSumSpec(f, p.slices, p.cols), buffers: [2, 3] }] })),
    tuneBytes: [Math.max(...plans.map((p) => p.slices * f.m * p.cols * 4)), f.m * plans[0].cols * 4],
  };
}
