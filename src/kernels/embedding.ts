import { embeddingBackwardShader, embeddingCountShader, embeddingShader } from '../../shaders/embedding.js';
import { dispatch1D } from './geometry.js';
import { UniformWriter, type KernelProgram, type KernelSpec } from './kernel.js';

const GATHER_WG = 256;
const COUNT_WG = 256;
/** Small: the grouping steps have one invocation per vocabulary row, often only a few hundred. */
const BACKWARD_WG = 64;

function uniforms(n: number, dim: number, vocab: number): ArrayBuffer {
  return new UniformWriter().u32(n, dim, vocab).finish();
}

/**
 * Embedding lookup of n u32 indices in a [vocab, dim] table. io: indices, weight, y [n, dim], invalid
 * [1] (how many indices are >= vocab, as f32; their rows of y are zero). Two launches: the gather,
 * then the one-workgroup count.
 */
export function embeddingProgram(n: number, dim: number, vocab: number): KernelProgram {
  const params = uniforms(n, dim, vocab);
  const gather: KernelSpec = {
    name: 'embedding',
    code: embeddingShader(),
    entryPoint: 'main',
    constants: { WG: GATHER_WG },
    bindings: ['read', 'read', 'write', 'uniform'],
    workgroups: dispatch1D(n * dim, GATHER_WG),
    uniforms: params,
  };
  const count: KernelSpec = {
    name: 'embedding_count_invalid',
    code: embeddingCountShader(),
    entryPoint: 'main',
    constants: { WG: COUNT_WG },
    bindings: ['read', 'write', 'uniform'],
    workgroups: [1, 1, 1],
    uniforms: params,
  };
  return {
    name: 'embedding',
    scratch: [],
    launches: [
      { spec: gather, args: [{ io: 0 }, { io: 1 }, { io: 2 }] },
      { spec: count, args: [{ io: 0 }, { io: 3 }] },
    ],
  };
}

/**
 * dweight [vocab, dim] from dy [n, dim] and the indices, deterministically (see
 * embeddingBackwardShader: count, offsets, fill, then one invocation per cell sums its positions in
 * order). io: dy, indices, dweight; scratch: count [vocab], offset [vocab], order [n] (u32).
 */
export function embeddingBackwardProgram(n: number, dim: number, vocab: number): KernelProgram {
  const params = uniforms(n, dim, vocab);
  const stage = (name: 'count' | 'offsets' | 'fill' | 'sum', bindings: KernelSpec['bindings'], invocations: number, wg: number): KernelSpec => ({
    name: `embedding_backward_${name}`,
    code: embeddingBackwardShader(name),
    entryPoint: 'main',
    constants: wg === 1 ? {} : { WG: wg },
    bindings,
    workgroups: wg === 1 ? [1, 1, 1] : dispatch1D(invocations, wg),
    uniforms: params,
  });
  const [count, offset, order] = [{ scratch: 0 }, { scratch: 1 }, { scratch: 2 }];
  return {
    name: 'embedding_backward',
    scratch: [vocab * 4, vocab * 4, Math.max(1, n) * 4],
    launches: [
      { spec: stage('count', ['read', 'write', 'uniform'], vocab, BACKWARD_WG), args: [{ io: 1 }, count] },
      { spec: stage('offsets', ['read', 'write', 'uniform'], 1, 1), args: [count, offset] },
      { spec: stage('fill', ['read', 'write', 'read', 'uniform'], vocab, BACKWARD_WG), args: [{ io: 1 }, order, offset] },
      { spec: stage('sum', ['read', 'read', 'read', 'read', 'write', 'uniform'], vocab * dim, BACKWARD_WG), args: [{ io: 0 }, count, offset, order, { io: 2 }] },
    ],
  };
}
