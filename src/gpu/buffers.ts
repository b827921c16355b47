import { DisposedError } from './errors.js';

/** A byte range of a GPU buffer holding one tensor. Offsets of bound ranges are 256-byte aligned. */
export interface BufferRange {
  buffer: GPUBuffer;
  offset: number;
  size: number;
}

/** A whole buffer or a range of one, as kernels may bind either. */
export type BufferBinding = GPUBuffer | BufferRange;

export function bindingResource(b: BufferBinding): GPUBufferBinding {
  return 'buffer' in b ? { buffer: b.buffer, offset: b.offset, size: Math.max(4, Math.ceil(b.size / 4) * 4) } : { buffer: b };
}

/**
 * Creates and destroys every GPU buffer the engine makes, so that tests and `engine.stats` can
 * see what is alive. Owners (tensors, plans, datasets) call `destroy` from their dispose().
 */
export class BufferRegistry {
  private readonly live = new Map<GPUBuffer, number>();
  private bytes = 0;
  private closed = false;

  constructor(private readonly device: GPUDevice) {}

  create(size: number, usage: GPUBufferUsageFlags, label: string): GPUBuffer {
    if (this.closed) throw new DisposedError(`cannot create buffer '${label}': the engine was destroyed`);
    // WebGPU requires sizes that are multiples of 4 and non-zero for mapped/storage use.
    const padded = Math.max(4, Math.ceil(size / 4) * 4);
    const buffer = this.device.createBuffer({ size: padded, usage, label });
    this.live.set(buffer, padded);
    this.bytes += padded;
    return buffer;
  }

  destroy(buffer: GPUBuffer): void {
    const size = this.live.get(buffer);
    if (size === undefined) return;
    this.live.delete(buffer);
    this.bytes -= size;
    buffer.destroy();
  }

  /**
   * Hands `buffer` to another registry without destroying it (the engine's pool of released tensor
   * buffers keeps them apart from the buffers user objects own).
   */
  transfer(buffer: GPUBuffer, to: BufferRegistry): void {
    const size = this.live.get(buffer);
    if (size === undefined) return;
    this.live.delete(buffer);
    this.bytes -= size;
    to.live.set(buffer, size);
    to.bytes += size;
  }

  destroyAll(): void {
    for (const buffer of [...this.live.keys()]) this.destroy(buffer);
    this.closed = true;
  }

  get liveBuffers(): number {
    return this.live.size;
  }

  get liveBytes(): number {
    return this.bytes;
  }
}
