import { layerNormBackwardDataShader, layerNormBackwardParamsShader, layerNormShader } from '../../shaders/layer_norm.js';
import { dispatch1D } from './geometry.js';
import { UniformWriter, type BindingKind, type KernelProgram, type KernelSpec } from './kernel.js';
import { defaultRowVariant, type SoftmaxVariant } from './softmax.js';

const ROW_WG = 64;
const COLUMN_WG = 64;
/** Rows per partial column sum of dγ, dβ: enough invocations to fill a device, short sums each. */
const CHUNK = 32;

/** Lanes of a row's workgroup: about four elements each, a power of two for the tree sums. */
function rowWorkgroup(cols: number, cooperative: boolean): number {
  if (!cooperative) return ROW_WG;
  let wg = 32;
  while (wg < 256 && wg * 4 < cols) wg *= 2;
  return wg;
}

function uniforms(rows: number, cols: number, eps: number): ArrayBuffer {
  return new UniformWriter().u32(rows, cols).f32(eps).finish();
}

function rowSpec(name: string, code: (cooperative: boolean) => string, bindings: BindingKind[], rows: number, cols: number, eps: number, variant?: SoftmaxVariant): KernelSpec {
  const cooperative = (variant ?? defaultRowVariant(cols, false)) === 'workgroup';
  return {
    name,
    code: code(cooperative),
    entryPoint: 'main',
    constants: { WG: rowWorkgroup(cols, cooperative) },
    bindings,
    workgroups: cooperative ? dispatch1D(rows, 1) : dispatch1D(rows, ROW_WG),
    uniforms: uniforms(rows, cols, eps),
  };
}

/**
 * Layer norm over the last axis of x viewed as [rows, cols]. Bindings: x, gamma [cols], beta [cols],
 * y, mean [rows], rstd [rows]. One invocation per row, or a workgroup per row (`variant`, which
 * defaults to defaultRowVariant(cols, false), as softmax).
 */
export function layerNormForward(rows: number, cols: number, eps: number, variant?: SoftmaxVariant): KernelSpec {
  return rowSpec('layer_norm', layerNormShader, ['read', 'read', 'read', 'write', 'write', 'write', 'uniform'], rows, cols, eps, variant);
}

/**
 * The layer_norm backward as one program of three launches. io: dy, x, mean, rstd, gamma, then dx,
 * dgamma, dbeta. The first launch writes dx row by row (fused: both row sums and dx in one kernel);
 * the next two sum dγ and dβ down each column, by chunks of rows then over the chunks, in a fixed
 * order (deterministic, no atomics).
 */
export function layerNormBackwardProgram(rows: number, cols: number, variant?: SoftmaxVariant): KernelProgram {
  const data = rowSpec('layer_norm_backward', layerNormBackwardDataShader, ['read', 'read', 'read', 'read', 'read', 'write', 'uniform'], rows, cols, 0, variant);
  const chunks = Math.ceil(rows / CHUNK);
  const column = (pass: 'partial' | 'total', bindings: BindingKind[], invocations: number): KernelSpec => ({
    name: `layer_norm_backward_params_${pass}`,
    code: layerNormBackwardParamsShader(pass),
    entryPoint: 'main',
    constants: { WG: COLUMN_WG, CHUNK },
    bindings,
    workgroups: dispatch1D(invocations, COLUMN_WG),
    uniforms: uniforms(rows, cols, 0),
  });
  return {
    name: 'layer_norm_backward',
    scratch: [2 * chunks * cols * 4],
    launches: [
      { spec: data, args: [0, 1, 2, 3, 4, 5].map((io) => ({ io })) },
      { spec: column('partial', ['read', 'read', 'read', 'read', 'write', 'uniform'], chunks * cols), args: [...[0, 1, 2, 3].map((io) => ({ io })), { scratch: 0 }] },
      { spec: column('total', ['read', 'write', 'write', 'uniform'], cols), args: [{ scratch: 0 }, { io: 6 }, { io: 7 }] },
    ],
  };
}
