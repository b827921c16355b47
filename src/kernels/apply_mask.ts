import { applyMaskShader } from '../../shaders/apply_mask.js';
import { dispatch1D } from './geometry.js';
import { UniformWriter, type KernelSpec } from './kernel.js';

const WG = 256;

/** Zeroes the values of n whose mask bit is clear. Bindings: values (updated), mask (⌈n/32⌉ u32 words). */
export function applyMaskSpec(n: number): KernelSpec {
  return {
    name: 'apply_mask',
    code: applyMaskShader(),
    entryPoint: 'main',
    constants: { WG },
    bindings: ['write', 'read', 'uniform'],
    workgroups: dispatch1D(n, WG),
    uniforms: new UniformWriter().u32(n).finish(),
  };
}
