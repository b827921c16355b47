import { gatherRowsShader } from '../../shaders/gather_rows.js';
import { dispatch1D } from './geometry.js';
import { UniformWriter, type KernelSpec } from './kernel.js';

const WG = 256;

export interface GatherRowsParams {
  batch: number;
  /** Values per feature row and per target row. */
  xWidth: number;
  yWidth: number;
  /** Samples in the dataset (length of `order`). */
  count: number;
  /** Features stored as u8 (normalised on the way) rather than 32-bit words copied as they are. */
  bytes: boolean;
  /** u8 features become (byte/255 − mean)/std; unused for 32-bit features. */
  mean: number;
  std: number;
}

/** Uniforms of one gather: the batch starts at order[start]. */
export function gatherRowsUniforms(p: GatherRowsParams, start: number): ArrayBuffer {
  return new UniformWriter().u32(p.batch, p.xWidth, p.yWidth, start, p.count).f32(p.mean, 1 / p.std).finish();
}

/** Bindings: features, targets, order (u32), x [batch, xWidth], y [batch, yWidth]. */
export function gatherRowsKernel(p: GatherRowsParams, start = 0): KernelSpec {
  return {
    name: p.bytes ? 'gather_rows_u8' : 'gather_rows',
    code: gatherRowsShader(p.bytes),
    entryPoint: 'main',
    constants: { WG },
    bindings: ['read', 'read', 'read', 'write', 'write', 'uniform'],
    workgroups: dispatch1D(p.batch * (p.xWidth + p.yWidth), WG),
    uniforms: gatherRowsUniforms(p, start),
  };
}
