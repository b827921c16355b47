import { softmaxShader } from '../../shaders/softmax.js';
import { ShapeError } from '../gpu/errors.js';
import { dispatch1D, product } from './geometry.js';
import { UniformWriter, type KernelSpec } from './kernel.js';

/** Rows at least this long get a workgroup each; shorter ones one invocation (barriers are costly on CPU adapters). */
export const COOPERATIVE_MIN_COLS = 64;
/** Invocations per workgroup when one invocation owns a row. */
const ROW_WG = 64;

/** One invocation per row, or a workgroup per row with tree reductions. */
export type SoftmaxVariant = 'thread' | 'workgroup';

/**
 * The kernel to use when none is asked for. Barriers cost more than they save on CPU adapters
 * (SwiftShader, 2 cores: softmax [256, 1000] took 12 ms one-invocation-per-row against 298 ms
 * workgroup-per-row), so software adapters always take one invocation per row; GPUs share rows
 * of COOPERATIVE_MIN_COLS or more across a workgroup. Both remain valid autotuning candidates.
 */
export function defaultRowVariant(cols: number, software: boolean): SoftmaxVariant {
  return !software && cols >= COOPERATIVE_MIN_COLS ? 'workgroup' : 'thread';
}

/** [rows, cols] of a tensor softmaxed along its last axis. */
export function softmaxRows(op: string, shape: readonly number[]): [number, number] {
  if (shape.length === 0) throw new ShapeError(`${op}: needs at least one dimension, got a scalar`);
  const cols = shape[shape.length - 1];
  return [product(shape.slice(0, -1)), cols];
}

function spec(direction: 'forward' | 'backward', rows: number, cols: number, variant?: SoftmaxVariant): KernelSpec {
  const cooperative = (variant ?? defaultRowVariant(cols, false)) === 'workgroup';
  // Workgroup lanes: about four elements each, as a power of two for the tree.
  let wg = 32;
  while (cooperative && wg < 256 && wg * 4 < cols) wg *= 2;
  return {
    name: direction === 'forward' ? 'softmax' : 'softmax_backward',
    code: softmaxShader(cooperative, direction),
    entryPoint: 'main',
    constants: { WG: cooperative ? wg : ROW_WG },
    bindings: direction === 'forward' ? ['read', 'write', 'uniform'] : ['read', 'read', 'write', 'uniform'],
    workgroups: cooperative ? dispatch1D(rows, 1) : dispatch1D(rows, ROW_WG),
    uniforms: new UniformWriter().u32(rows, cols).finish(),
  };
}

/** y = softmax(x) along the last axis of x viewed as [rows, cols]. Bindings: x, y. `variant` defaults to defaultRowVariant(cols, false). */
export function softmaxForward(rows: number, cols: number, variant?: SoftmaxVariant): KernelSpec {
  return spec('forward', rows, cols, variant);
}

/** dx = y * (dy - sum(dy * y)) per row. Bindings: dy, y, dx. */
export function softmaxBackward(rows: number, cols: number, variant?: SoftmaxVariant): KernelSpec {
  return spec('backward', rows, cols, variant);
}
