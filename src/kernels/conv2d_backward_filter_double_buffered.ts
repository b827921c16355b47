import { convFilterDoubleBufferedShader } from '../../shaders/conv2d_backward_filter_double_buffered.js';
import type { ConvFilter } from './conv2d_backward_filter.js';
import { ceilDiv } from './geometry.js';
import { UniformWriter, type KernelSpec } from './kernel.js';

export interface FilterDoubleBufferedBlock {
  wgX: number;
  wgY: number;
  tm: number;
  tn: number;
  bk: number;
  /** About how many workgroups keep the adapter busy; the reduction is split until that many run. */
  targetWorkgroups: number;
}

/**
 * Fewer reduction values than this per split spend more on writing and adding partial slices than
 * on products (32 steps of 8).
 */
const MIN_CHUNK = 256;

/**
 * The partial-products launch of `f` on a double-buffered tile (bindings grad, src, partial), and
 * how many slices of [m, cols] it leaves in `partial` for the summing launch.
 */
export function filterDoubleBufferedLaunch(
  f: ConvFilter,
  name: string,
  block: FilterDoubleBufferedBlock,
  checked: boolean,
): { spec: KernelSpec; slices: number; cols: number } {
  const cols = f.c * f.kernel[0] * f.kernel[1];
  const depth = f.batch * f.grad[0] * f.grad[1];
  const tiles = ceilDiv(f.m, block.wgY * block.tm) * ceilDiv(cols, block.wgX * block.tn);
  const wanted = Math.max(1, Math.ceil(block.targetWorkgroups / tiles));
  // Chunks are whole steps, so only the last split meets the reduction's end mid-step.
  const chunk = Math.ceil(Math.max(MIN_CHUNK, ceilDiv(depth, wanted)) / block.bk) * block.bk;
  const splits = ceilDiv(depth, chunk);
  const spec: KernelSpec = {
    name,
    code: convFilterDoubleBufferedShader({ kernel: f.kernel, checked }, block),
    entryPoint: 'main',
    constants: { WG_X: block.wgX, WG_Y: block.wgY },
    bindings: ['read', 'read', 'write', 'uniform'],
    workgroups: [ceilDiv(cols, block.wgX * block.tn), ceilDiv(f.m, block.wgY * block.tm), splits],
    uniforms: new UniformWriter()
      .i32(f.batch, f.m, f.c, depth)
      .i32(...f.src, ...f.grad)
      .i32(...f.stride, ...f.padding)
      .i32(...f.dilation, cols, chunk)
      .finish(),
  };
  return { spec, slices: splits, cols };
}
