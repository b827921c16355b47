/** How a kernel sees one of its buffers; the index in `KernelSpec.bindings` is its @binding in group 0. */
export type BindingKind = 'read' | 'write' | 'uniform';

/**
 * A kernel launch described as data: WGSL text, override constants, the binding layout and the
 * dispatch size. Built by the functions in src/kernels from shapes and attributes; `makeLaunch`
 * (launch.ts) turns it into a pipeline, bind group and uniform buffer for the engine's eager work
 * and for compiled plans alike.
 */
export interface KernelSpec {
  /** Family and variant, e.g. 'matmul_tn_relu'; used in error messages and profiles. */
  name: string;
  code: string;
  entryPoint: string;
  /** WGSL `override` constants (tile sizes, workgroup size), fixed at pipeline creation. */
  constants?: Record<string, number>;
  bindings: BindingKind[];
  workgroups: [number, number, number];
  /**
   * Contents of the single uniform buffer, when `bindings` has one. Bounds and shapes come from
   * here rather than arrayLength(), since pooled buffers may be larger than the tensor.
   */
  uniforms?: ArrayBuffer;
}

/** The part of a spec that decides the pipeline: equal keys may share one GPUComputePipeline. */
export function pipelineKey(spec: Pick<KernelSpec, 'code' | 'entryPoint' | 'constants' | 'bindings'>): string {
  const constants = spec.constants
    ? Object.entries(spec.constants)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, v]) => `${k}=${v}`)
        .join(',')
    : '';
  return `${spec.entryPoint}|${spec.bindings.join(',')}|${constants}|${spec.code}`;
}

/** How many buffers a launch of `spec` binds besides its uniform buffer. */
export function storageBindingCount(spec: Pick<KernelSpec, 'bindings'>): number {
  return spec.bindings.filter((b) => b !== 'uniform').length;
}

/** A buffer a launch binds: the op's `io`-th buffer (inputs, then outputs) or a scratch buffer. */
export type ArgRef = { io: number } | { scratch: number };

/**
 * An op that needs several launches sharing temporary buffers, e.g. split-K matmul (partial products,
 * then their sum) or a two-pass reduction. Scratch buffers live only for the program; the executor
 * may pool them.
 */
export interface KernelProgram {
  name: string;
  /** Size in bytes of each scratch buffer. */
  scratch: number[];
  launches: { spec: KernelSpec; args: ArgRef[] }[];
}
