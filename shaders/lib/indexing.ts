/**
 * 1-D kernels may be launched over a 2-D grid of workgroups (WebGPU allows only 65535 per
 * dimension; see dispatch1D in src/kernels/geometry.ts). This recovers the flat invocation index.
 */
export const flatIndexWGSL = /* wgsl */ `
fn flat_index(gid: vec3u, nwg: vec3u, wg_size: u32) -> u32 {
  return gid.x + gid.y * nwg.x * wg_size;
}
`;
