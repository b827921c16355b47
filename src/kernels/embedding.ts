import { embeddingBackwardShader, embeddingCountShader, embeddingShader } from '../../shaders/embedding.js';
import { dispatch1D } from './geometry.js';
import { UniformWriter, type KernelProgram, type KernelSpec } from './kernel.js';

const GATHER_WG = 256;
const COUNT_WG = 256;
/** Small: with a few hundred vocabulary rows, dweight has few cells and each scans every index. */
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

/** dweight [vocab, dim] from dy [n, dim] and the indices. Bindings: dy, indices, dweight. */
export function embeddingBackward(n: number, dim: number, vocab: number): KernelSpec {
  return {
    name: 'embedding_backward',
    code: embeddingBackwardShader(),
    entryPoint: 'main',
    constants: { WG: BACKWARD_WG },
    bindings: ['read', 'read', 'write', 'uniform'],
    workgroups: dispatch1D(vocab * dim, BACKWARD_WG),
    uniforms: uniforms(n, dim, vocab),
  };
}
