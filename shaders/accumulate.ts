/**
 * acc[j] += src_j[0] for `sources` one-element buffers: running sums of per-step metrics (loss,
 * correct count) kept on the GPU, all in one launch.
 */
export function accumulateShader(sources: number): string {
  const bindings = Array.from({ length: sources }, (_, j) => `@group(0) @binding(${j}) var<storage, read> src${j}: array<f32>;`).join('\n');
  const adds = Array.from({ length: sources }, (_, j) => `  acc[${j}] = acc[${j}] + src${j}[0];`).join('\n');
  return /* wgsl */ `
${bindings}
@group(0) @binding(${sources}) var<storage, read_write> acc: array<f32>;

@compute @workgroup_size(1)
fn main() {
${adds}
}
`;
}
