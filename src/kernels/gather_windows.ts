import { gatherWindowsShader } from '../../shaders/gather_windows.js';
import { dispatch1D } from './geometry.js';
import { UniformWriter, type KernelSpec } from './kernel.js';

const WG = 256;

/** One gather of `batch` windows of `context` tokens, from starts[first …]. */
export interface GatherWindowsParams {
  batch: number;
  context: number;
  first: number;
}

export function gatherWindowsUniforms(p: GatherWindowsParams): ArrayBuffer {
  return new UniformWriter().u32(p.batch, p.context, p.first).finish();
}

/** Bindings: tokens (u32), starts (u32), x [batch, context] (u32), y [batch, context] (u32). */
export function gatherWindowsKernel(p: GatherWindowsParams): KernelSpec {
  return {
    name: 'gather_windows',
    code: gatherWindowsShader(),
    entryPoint: 'main',
    constants: { WG },
    bindings: ['read', 'read', 'write', 'write', 'uniform'],
    workgroups: dispatch1D(p.batch * p.context, WG),
    uniforms: gatherWindowsUniforms(p),
  };
}
