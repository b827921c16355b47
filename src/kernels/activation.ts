import { activationShader } from '../../shaders/activation.js';
import { activationConstants, type ActivationSpec } from '../../shaders/lib/activations.js';
import { dispatch1D } from './geometry.js';
import { UniformWriter, type KernelSpec } from './kernel.js';

const WG = 256;

/** y = f(x) over `n` elements. Bindings: x, y. */
export function activationForward(a: ActivationSpec, n: number): KernelSpec {
  return {
    name: `activation_${a.kind}`,
    code: activationShader(a.kind, 'forward'),
    entryPoint: 'main',
    constants: { WG, ...activationConstants(a) },
    bindings: ['read', 'write', 'uniform'],
    workgroups: dispatch1D(n, WG),
    uniforms: new UniformWriter().u32(n).finish(),
  };
}

/** dx = dy * f'(saved) over `n` elements; `saved` is the forward output, or input for GELU. Bindings: dy, saved, dx. */
export function activationBackward(a: ActivationSpec, n: number): KernelSpec {
  return {
    name: `activation_${a.kind}_backward`,
    code: activationShader(a.kind, 'backward'),
    entryPoint: 'main',
    constants: { WG, ...activationConstants(a) },
    bindings: ['read', 'read', 'write', 'uniform'],
    workgroups: dispatch1D(n, WG),
    uniforms: new UniformWriter().u32(n).finish(),
  };
}
