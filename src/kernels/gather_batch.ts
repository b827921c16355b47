import { gatherBatchShader } from '../../shaders/gather_batch.js';
import { dispatch1D } from './geometry.js';
import { UniformWriter, type KernelSpec } from './kernel.js';

const WG = 256;

export interface GatherBatchParams {
  batch: number;
  /** Pixels per sample (height × width × channels). */
  pixels: number;
  /** Samples in the dataset (length of `order`). */
  count: number;
  /** Pixels become (byte/255 − mean)/std: mean 0, std 1 gives [0, 1]; mean 0.5, std 0.5 gives [−1, 1]. */
  mean: number;
  std: number;
}

export function gatherBatchUniforms(p: GatherBatchParams, start: number): ArrayBuffer {
  return new UniformWriter().u32(p.batch, p.pixels, start, p.count).f32(p.mean, 1 / p.std).finish();
}

/** Bindings: images (packed u8), labels (packed u8), order (u32), x [batch, pixels] f32, y [batch] u32. */
export function gatherBatchKernel(p: GatherBatchParams, start = 0): KernelSpec {
  return {
    name: 'gather_batch',
    code: gatherBatchShader(),
    entryPoint: 'main',
    constants: { WG },
    bindings: ['read', 'read', 'read', 'write', 'write', 'uniform'],
    workgroups: dispatch1D(p.batch * p.pixels, WG),
    uniforms: gatherBatchUniforms(p, start),
  };
}
