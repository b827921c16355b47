/** Bytes of released tensor buffers kept for reuse. */
const MAX_POOLED_BYTES = 256 * 1024 * 1024;

/**
 * Released eager tensor buffers by size, for later outputs of the same size. Reuse is safe even
 * while earlier work is queued or unsubmitted: a later launch is recorded after the ones before
 * it, and dispatches see each other's writes in recording order. The last released comes out
 * first, so a loop cycles through a few buffers, and so through a few bind groups.
 */
export class BufferPool {
  private readonly bySize = new Map<number, GPUBuffer[]>();
  private bytes = 0;

  /** Keeps `buffer` unless that would pass the pool's budget (then the caller frees it). */
  add(buffer: GPUBuffer): boolean {
    if (this.bytes + buffer.size > MAX_POOLED_BYTES) return false;
    let list = this.bySize.get(buffer.size);
    if (!list) this.bySize.set(buffer.size, (list = []));
    list.push(buffer);
    this.bytes += buffer.size;
    return true;
  }

  /**
   * A buffer of exactly `bytes` (padded to 4) that `usable` accepts: `preferred` if pooled, else
   * the last released.
   */
  take(bytes: number, usable?: (b: GPUBuffer) => boolean, preferred?: GPUBuffer): GPUBuffer | undefined {
    const list = this.bySize.get(Math.max(4, Math.ceil(bytes / 4) * 4));
    if (!list?.length) return undefined;
    let i = preferred ? list.lastIndexOf(preferred) : -1;
    if (i < 0) i = list.length - 1;
    while (usable && i >= 0 && !usable(list[i])) i--;
    if (i < 0) return undefined;
    const [buffer] = list.splice(i, 1);
    this.bytes -= buffer.size;
    return buffer;
  }

  /** Empties the pool, returning what it held. */
  drain(): GPUBuffer[] {
    const all = [...this.bySize.values()].flat();
    this.bySize.clear();
    this.bytes = 0;
    return all;
  }

  get size(): number {
    let n = 0;
    for (const list of this.bySize.values()) n += list.length;
    return n;
  }
}
