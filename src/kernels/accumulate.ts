import { accumulateShader } from '../../shaders/accumulate.js';
import { dispatch1D } from './geometry.js';
import { UniformWriter, type KernelSpec } from './kernel.js';

const WG = 64;

/** acc += src over n floats. Bindings: src, acc. */
export function accumulateKernel(n: number): KernelSpec {
  return {
    name: 'accumulate',
    code: accumulateShader(),
    entryPoint: 'main',
    constants: { WG },
    bindings: ['read', 'write', 'uniform'],
    workgroups: dispatch1D(n, WG),
    uniforms: new UniformWriter().u32(n).finish(),
  };
}
