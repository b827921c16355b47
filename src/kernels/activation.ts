import { activationShader } from '../../shaders/activation.js';
import { ACTIVATIONS, activationConstants, type ActivationSpec } from '../../shaders/lib/activations.js';
import { ShapeError } from '../gpu/errors.js';
import { dispatch1D } from './geometry.js';
import { UniformWriter, type KernelSpec } from './kernel.js';

const WG = 256;

/** Checks an activation's kind and leaky_relu's slope (a finite number), naming `where`. */
export function checkActivation(where: string, a: ActivationSpec): void {
  if (!ACTIVATIONS.includes(a.kind)) {
    throw new ShapeError(`${where}: unknown activation '${String(a.kind)}'; use one of ${ACTIVATIONS.join(', ')}`);
  }
  if (a.kind === 'leaky_relu' && a.alpha !== undefined && !(typeof a.alpha === 'number' && Number.isFinite(a.alpha))) {
    throw new ShapeError(`${where}: leaky_relu slope ${String(a.alpha)} must be a finite number (PyTorch's default is 0.01)`);
  }
}

/** y = f(x) over `n` elements. Bindings: x, y. */
export function activationForward(a: ActivationSpec, n: number): KernelSpec {
  checkActivation('activation', a);
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

/** dx = dy * f'(saved) over `n` elements; `saved` is what activationSaves(a) says: the forward output, or its input. Bindings: dy, saved, dx. */
export function activationBackward(a: ActivationSpec, n: number): KernelSpec {
  checkActivation('activation backward', a);
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
