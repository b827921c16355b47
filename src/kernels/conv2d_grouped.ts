import { conv2dGroupedBackwardDataShader, conv2dGroupedBackwardFilterShader, conv2dGroupedShader } from '../../shaders/conv2d_grouped.js';
import { activationConstants } from '../../shaders/lib/activations.js';
import { ShapeError } from '../gpu/errors.js';
import { conv2dOutputShape, type Conv2dParams } from './conv2d.js';
import { dispatch1D } from './geometry.js';
import { UniformWriter, type KernelSpec } from './kernel.js';

const WG = 64;

/**
 * Checks `groups` against an input [N, Cin, H, W] and weight [Cout, Cin/groups, KH, KW], as
 * torch.nn.Conv2d does; returns the weight shape the ungrouped conv checks would expect
 * ([Cout, Cin, KH, KW]), whose output shape is the grouped conv's.
 */
export function groupedWeightShape(op: string, input: readonly number[], weight: readonly number[], groups: number): number[] {
  if (!Number.isInteger(groups) || groups < 1) throw new ShapeError(`${op}: groups ${groups} must be a positive integer`);
  const [cin] = [input[1]];
  const [cout, perGroup] = [weight[0], weight[1]];
  if (cin % groups !== 0 || cout % groups !== 0) {
    throw new ShapeError(`${op}: groups ${groups} must divide both the input channels ${cin} and the output channels ${cout}`);
  }
  if (perGroup !== cin / groups) {
    throw new ShapeError(
      `${op}: weight [${weight.join(', ')}] must be [Cout, Cin/groups = ${cin / groups}, KH, KW] for input [${input.join(', ')}] with groups ${groups}; fix the weight's dimension 1`,
    );
  }
  return [cout, cin, weight[2], weight[3]];
}

/** `p` describes the ungrouped view (weight [Cout, Cin, KH, KW]); the kernels read [Cout, Cin/groups, KH, KW]. */
function uniforms(p: Conv2dParams, groups: number): ArrayBuffer {
  const [n, cin, h, w] = p.input;
  const [cout] = p.weight;
  const [, , oh, ow] = conv2dOutputShape(p);
  return new UniformWriter()
    .i32(n, cin, h, w, cout, oh, ow, groups, ...p.stride, ...p.padding, ...p.dilation)
    .finish();
}

/** The kernel size travels as override constants (KH, KW), so the tap loops can be unrolled. */
function spec(name: string, code: string, bindings: KernelSpec['bindings'], invocations: number, p: Conv2dParams, groups: number, constants: Record<string, number> = {}): KernelSpec {
  const [, , KH, KW] = p.weight;
  return { name, code, entryPoint: 'main', constants: { WG, KH, KW, ...constants }, bindings, workgroups: dispatch1D(invocations, WG), uniforms: uniforms(p, groups) };
}

/** Grouped conv2d forward with optional bias and activation. Bindings: x, w, [bias], y. */
export function conv2dGroupedForward(p: Conv2dParams, groups: number): KernelSpec {
  const [n, cout, oh, ow] = conv2dOutputShape(p);
  const bindings: KernelSpec['bindings'] = p.bias ? ['read', 'read', 'read', 'write', 'uniform'] : ['read', 'read', 'write', 'uniform'];
  return spec('conv2d_grouped', conv2dGroupedShader(p.bias, p.activation.kind), bindings, n * cout * oh * ow, p, groups, activationConstants(p.activation));
}

/** dx of a grouped conv2d. Bindings: dy, w, dx. */
export function conv2dGroupedBackwardData(p: Conv2dParams, groups: number): KernelSpec {
  return spec('conv2d_grouped_backward_data', conv2dGroupedBackwardDataShader(), ['read', 'read', 'write', 'uniform'], p.input.reduce((a, b) => a * b, 1), p, groups);
}

/** dw [Cout, Cin/groups, KH, KW] of a grouped conv2d. Bindings: x, dy, dw. */
export function conv2dGroupedBackwardFilter(p: Conv2dParams, groups: number): KernelSpec {
  const [cout, cin, kh, kw] = p.weight;
  return spec('conv2d_grouped_backward_filter', conv2dGroupedBackwardFilterShader(), ['read', 'read', 'write', 'uniform'], (cout * cin * kh * kw) / groups, p, groups);
}
