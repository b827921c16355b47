import { storageBindingCount, type KernelProgram, type KernelSpec } from '../gpu/kernel_spec.js';

// The launch description is the GPU layer's vocabulary; kernels build it, so they name it from here.
export { pipelineKey, type ArgRef, type BindingKind, type KernelProgram, type KernelSpec } from '../gpu/kernel_spec.js';

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

/** A one-launch program whose bindings are the op's buffers in order. */
export function singleLaunch(spec: KernelSpec): KernelProgram {
  const count = storageBindingCount(spec);
  return { name: spec.name, scratch: [], launches: [{ spec, args: Array.from({ length: count }, (_, io) => ({ io })) }] };
}
