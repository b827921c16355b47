import { accumulateShader } from '../../shaders/accumulate.js';
import type { KernelSpec } from './kernel.js';

/**
 * acc[j] += src_j[0] for each of `sources` scalars. Bindings: src_0 … src_{k−1}, acc [k], or with
 * `guarded` acc [2k] (sums, then first positive steps) and the step's health record.
 */
export function accumulateKernel(sources: number, guarded = false): KernelSpec {
  return {
    name: `accumulate_${sources}${guarded ? '_guarded' : ''}`,
    code: accumulateShader(sources, guarded),
    entryPoint: 'main',
    bindings: [...Array<'read'>(sources).fill('read'), 'write', ...(guarded ? ['write' as const] : [])],
    workgroups: [1, 1, 1],
  };
}
