/** The packed keep-mask of n values (one bit each), all kept. */
export function keepAllMask(n: number): Uint32Array {
  return new Uint32Array(Math.ceil(n / 32)).fill(0xffffffff);
}

/** Clears bit i: value i is pruned. */
export function clearBit(mask: Uint32Array, i: number): void {
  mask[i >>> 5] &= ~(1 << (i & 31));
}
