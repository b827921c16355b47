import { activationSaves } from '../../../shaders/lib/activations.js';
import { activationBackward, activationForward, checkActivation } from '../../kernels/activation.js';
import { singleLaunch } from '../../kernels/kernel.js';
import { program } from '../lower.js';
import { expectArity, expectF32, expectSameShape, materialise, type OpRule } from './rule.js';
import type { ActivationSpec } from '../../../shaders/lib/activations.js';

/** The op kinds this file defines, with their attributes (see OpAttrs in ./kinds.ts). */
export interface ActivationOps {
  activation: { activation: ActivationSpec };
  /** dx = dy ⊙ f'(saved); saved is the output, or the input where activationSaves says so (GELU, leaky_relu with a negative slope). */
  activation_backward: { activation: ActivationSpec };
}

export const activationRule: OpRule<'activation'> = {
  infer([x], attrs, where) {
    expectF32(where, 'input', x);
    checkActivation(where, attrs.activation);
    return [{ shape: x.shape, dtype: 'f32' }];
  },
  // dx = g ⊙ f'(z), computed by one kernel from the saved output, or the input where the output
  // cannot give f'(z) (GELU, leaky_relu with a negative slope): activationSaves decides.
  grad(g, node, [up]) {
    if (up === null) return [null];
    const { activation } = node.attrs;
    const saved = activationSaves(activation) === 'output' ? node.outputs[0] : node.inputs[0];
    return [g.apply('activation_backward', [materialise(g, up, node.outputs[0]), saved], { activation })[0]];
  },
  lower: ({ inputs: [x], attrs }) => program(singleLaunch(activationForward(attrs.activation, x.size))),
};

export const activationBackwardRule: OpRule<'activation_backward'> = {
  infer([dy, saved], _attrs, where) {
    expectArity(where, [dy, saved], 2, 'dy, saved');
    expectSameShape(where, dy, saved);
    return [{ shape: dy.shape, dtype: 'f32' }];
  },
  // Second derivatives are not needed by any model the engine trains (a GAN differentiates
  // through D's forward pass only), so autodiff refuses to pass here at build time.
  grad: 'nondiff',
  lower: ({ inputs: [dy], attrs }) => program(singleLaunch(activationBackward(attrs.activation, dy.size))),
};
