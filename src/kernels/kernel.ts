/** How a kernel sees one of its buffers; the index in `KernelSpec.bindings` is its @binding in group 0. */
export type BindingKind = 'read' | 'write' | 'uniform';

/**
 * A kernel launch described as data: WGSL text, override constants, the binding layout and the
 * dispatch size. Built by the functions in src/kernels from shapes and attributes; the engine (eager)
 * and the graph executor (compiled plans) turn it into pipelines, bind groups and dispatches.
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

/** Packs u32/i32/f32 fields into a uniform buffer image, padded to 16 bytes as WGSL requires. */
export class UniformWriter {
  private readonly words: number[] = [];
  private readonly kinds: ('u' | 'i' | 'f')[] = [];

  u32(...values: number[]): this {
    for (const v of values) {
      this.words.push(v);
      this.kinds.push('u');
    }
    return this;
  }

  i32(...values: number[]): this {
    for (const v of values) {
      this.words.push(v);
      this.kinds.push('i');
    }
    return this;
  }

  f32(...values: number[]): this {
    for (const v of values) {
      this.words.push(v);
      this.kinds.push('f');
    }
    return this;
  }

  finish(): ArrayBuffer {
    const size = Math.max(16, Math.ceil(this.words.length / 4) * 16);
    const buffer = new ArrayBuffer(size);
    const view = new DataView(buffer);
    this.words.forEach((v, i) => {
      const kind = this.kinds[i];
      if (kind === 'f') view.setFloat32(i * 4, v, true);
      else if (kind === 'i') view.setInt32(i * 4, v, true);
      else view.setUint32(i * 4, v, true);
    });
    return buffer;
  }
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

/** A one-launch program whose bindings are the op's buffers in order. */
export function singleLaunch(spec: KernelSpec): KernelProgram {
  const count = spec.bindings.filter((b) => b !== 'uniform').length;
  return { name: spec.name, scratch: [], launches: [{ spec, args: Array.from({ length: count }, (_, io) => ({ io })) }] };
}
