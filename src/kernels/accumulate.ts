import { accumulateShader } from '../../shaders/accumulate.js';
import type { KernelSpec } from './kernel.js';

/** acc[j] += src_j[0] for each of `sources` scalars. Bindings: src_0 … src_{k−1}, acc [k]. */
export function accumulateKernel(sources: number): KernelSpec {
  return {
    name: `accumulate_${sources}`,
    code: accumulateShader(sources),
    entryPoint: 'main',
    bindings: [...Array<'read'>(sources).fill('read'), 'write'],
    workgroups: [1, 1, 1],
  };
}
