import { convGemmDirectShader, type ConvGather, type ConvGemmShaderOptions } from '../../shaders/conv2d.js';
import { convGemmDoubleBufferedShader } from '../../shaders/conv2d_double_buffered.js';
import { convGemmTiledShader, TILED_WORKGROUP } from '../../shaders/conv2d_tiled.js';
import { activationConstants, type ActivationSpec } from '../../shaders/lib/activations.js';
import type { TuneCandidate } from '../gpu/autotune.js';
import { KernelConfigError, ShapeError } from '../gpu/errors.js';
import { ceilDiv, MAX_WORKGROUPS_PER_DIM } from './geometry.js';
import { UniformWriter, type KernelSpec } from './kernel.js';

export type Pair = [number, number];

/**
 * One implicit-GEMM launch (see shaders/conv2d.ts): dst [batch, m, dst_h, dst_w] from
 * src [batch, c, src_h, src_w] and a weight read at m*wStrideOut + c*wStrideRed + kh*KW + kw.
 * conv2d forward and backward-data and conv_transpose2d forward and backward-data are all this,
 * with different gathers and weight strides.
 */
export interface ConvGemm {
  name: string;
  gather: ConvGather;
  batch: number;
  m: number;
  c: number;
  src: Pair;
  dst: Pair;
  kernel: Pair;
  stride: Pair;
  padding: Pair;
  dilation: Pair;
  wStrideOut: number;
  wStrideRed: number;
  bias: boolean;
  activation: ActivationSpec;
}

/**
 * Candidate kernels, the default first. `direct_CxP`: no workgroup memory, each invocation C
 * channels × P positions in registers (fast on CPU adapters). `tiled_32x32`: tiles staged in
 * workgroup memory (what GPUs reward). `dbuf_MxP_8x8`: an M channels × P positions tile,
 * double-buffered in workgroup memory, 8×8 register blocks (shaders/conv2d_double_buffered.ts).
 */
export const CONV_GEMM_CONFIGS = ['direct_4x4', 'direct_8x4', 'tiled_32x32', 'dbuf_128x128_8x8', 'dbuf_64x64_8x8'] as const;
export type ConvGemmConfig = (typeof CONV_GEMM_CONFIGS)[number];

type DirectConfig = 'direct_4x4' | 'direct_8x4';
type DoubleBufferedConfig = 'dbuf_128x128_8x8' | 'dbuf_64x64_8x8';

const DIRECT_BLOCKS: Record<DirectConfig, { groups: number; positions: number }> = {
  direct_4x4: { groups: 1, positions: 4 },
  direct_8x4: { groups: 2, positions: 4 },
};

/**
 * For GPUs (designed, not measured on one): 128×128 takes 256 invocations and 16 KiB of
 * workgroup memory (two 8-row steps of both operands), within WebGPU's default limits; 64×64
 * takes 64 invocations and 8 KiB, for small outputs and compatibility-mode devices.
 */
export const CONV_DOUBLE_BUFFERED_BLOCKS: Record<DoubleBufferedConfig, { wgX: number; wgY: number; tm: number; tn: number; bk: number }> = {
  dbuf_128x128_8x8: { wgX: 16, wgY: 16, tm: 8, tn: 8, bk: 8 },
  dbuf_64x64_8x8: { wgX: 8, wgY: 8, tm: 8, tn: 8, bk: 8 },
};

function isDoubleBuffered(config: ConvGemmConfig): config is DoubleBufferedConfig {
  return config in CONV_DOUBLE_BUFFERED_BLOCKS;
}

/** Whether a forward gather can leave src: only through padding or a too-large output. */
function needsBoundsChecks(g: ConvGemm): boolean {
  if (g.gather === 'transposed') return true;
  const reach = (d: 0 | 1) => (g.dst[d] - 1) * g.stride[d] + (g.kernel[d] - 1) * g.dilation[d];
  return g.padding[0] !== 0 || g.padding[1] !== 0 || reach(0) >= g.src[0] || reach(1) >= g.src[1];
}

function shaderOptions(g: ConvGemm): ConvGemmShaderOptions {
  return {
    gather: g.gather,
    kernel: g.kernel,
    checked: needsBoundsChecks(g),
    strided: g.gather === 'transposed' && (g.stride[0] > 1 || g.stride[1] > 1),
    bias: g.bias,
    activation: g.activation.kind,
  };
}

function uniforms(g: ConvGemm): ArrayBuffer {
  const positions = g.batch * g.dst[0] * g.dst[1];
  return new UniformWriter()
    .i32(g.batch, g.m, g.c, positions)
    .i32(...g.src, ...g.dst)
    .i32(...g.stride, ...g.padding)
    .i32(...g.dilation, g.wStrideOut, g.wStrideRed)
    .finish();
}

/** Powers of two keep tuning classes few: shapes within a factor of two share a winner. */
function bucket(n: number): number {
  return Math.ceil(Math.log2(Math.max(1, n)));
}

/** Key under which the autotuner remembers the best config for shapes like `g`. */
export function convGemmShapeClass(g: ConvGemm): string {
  const positions = g.batch * g.dst[0] * g.dst[1];
  return `${g.name}|${g.gather}|m${bucket(g.m)}|c${bucket(g.c)}|p${bucket(positions)}|k${g.kernel.join('x')}`;
}

function checkDispatch(g: ConvGemm, groups: [number, number, number]): void {
  if (groups.some((n) => n > MAX_WORKGROUPS_PER_DIM)) {
    throw new ShapeError(
      `${g.name}: output [${g.batch}, ${g.m}, ${g.dst.join(', ')}] needs ${groups.join('×')} workgroups, over WebGPU's ${MAX_WORKGROUPS_PER_DIM} per dimension; split the batch`,
    );
  }
}

/** The launch of `g` with `config`. Bindings: src, weight, [bias], dst. */
export function convGemmSpec(g: ConvGemm, config: ConvGemmConfig): KernelSpec {
  // Ids arrive as strings from eager options and checkpoints: an unknown one is named here, not a TypeError below.
  if (!CONV_GEMM_CONFIGS.includes(config)) {
    throw new KernelConfigError(g.name, g.name, String(config), `${g.name} has no config '${String(config)}'; use one of ${CONV_GEMM_CONFIGS.join(', ')}`);
  }
  const options = shaderOptions(g);
  const positions = g.batch * g.dst[0] * g.dst[1];
  const bindings: KernelSpec['bindings'] = g.bias ? ['read', 'read', 'read', 'write', 'uniform'] : ['read', 'read', 'write', 'uniform'];
  const base = { name: `${g.name}_${config}`, entryPoint: 'main', bindings, uniforms: uniforms(g) };
  if (config === 'tiled_32x32') {
    const workgroups: [number, number, number] = [ceilDiv(positions, 32), ceilDiv(g.m, 32), 1];
    checkDispatch(g, workgroups);
    return {
      ...base,
      code: convGemmTiledShader(options),
      constants: { WG: TILED_WORKGROUP, ...activationConstants(g.activation) },
      workgroups,
    };
  }
  if (isDoubleBuffered(config)) {
    const b = CONV_DOUBLE_BUFFERED_BLOCKS[config];
    const workgroups: [number, number, number] = [ceilDiv(positions, b.wgX * b.tn), ceilDiv(g.m, b.wgY * b.tm), 1];
    checkDispatch(g, workgroups);
    return {
      ...base,
      code: convGemmDoubleBufferedShader(options, b),
      constants: { WG_X: b.wgX, WG_Y: b.wgY, ...activationConstants(g.activation) },
      workgroups,
    };
  }
  const { groups, positions: perInvocation } = DIRECT_BLOCKS[config];
  const channelBlocks = ceilDiv(g.m, groups * 4);
  // 64 invocations per workgroup; as few channel rows as the channels need, so small Cout wastes none.
  const wgY = Math.min(4, 2 ** Math.floor(Math.log2(channelBlocks)));
  const wgX = 64 / wgY;
  const workgroups: [number, number, number] = [ceilDiv(ceilDiv(positions, perInvocation), wgX), ceilDiv(channelBlocks, wgY), 1];
  checkDispatch(g, workgroups);
  return {
    ...base,
    code: convGemmDirectShader(options, groups, perInvocation),
    constants: { WG_X: wgX, WG_Y: wgY, ...activationConstants(g.activation) },
    workgroups,
  };
}

/** Every config as a tuning candidate; bind src, weight, [bias], dst when timing them. */
export function convGemmCandidates(g: ConvGemm): TuneCandidate[] {
  return CONV_GEMM_CONFIGS.map((id) => ({ id, spec: convGemmSpec(g, id) }));
}

/** What the autotuner needs for one implicit GEMM: its shape class and every candidate. */
export function convGemmTuning(g: ConvGemm): { shapeClass: string; candidates: TuneCandidate[] } {
  return { shapeClass: convGemmShapeClass(g), candidates: convGemmCandidates(g) };
}
