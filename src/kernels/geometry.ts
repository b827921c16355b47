/** WebGPU guarantees only 65535 workgroups per dimension; larger 1-D launches fold into y. */
export const MAX_WORKGROUPS_PER_DIM = 65535;

/**
 * Workgroup counts covering `invocations` threads of a 1-D kernel with `workgroupSize` lanes.
 * Kernels recover the flat index with `flatIndex(gid, nwg)` from shaders/lib/indexing.ts.
 */
export function dispatch1D(invocations: number, workgroupSize: number): [number, number, number] {
  const groups = Math.max(1, Math.ceil(invocations / workgroupSize));
  if (groups <= MAX_WORKGROUPS_PER_DIM) return [groups, 1, 1];
  const y = Math.ceil(groups / MAX_WORKGROUPS_PER_DIM);
  return [Math.ceil(groups / y), y, 1];
}

export function ceilDiv(a: number, b: number): number {
  return Math.ceil(a / b);
}

export function product(shape: readonly number[]): number {
  let p = 1;
  for (const d of shape) p *= d;
  return p;
}
