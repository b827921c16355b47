import { stepHealthWGSL, stepSkippedWGSL } from './lib/step_health.js';

/**
 * acc[j] += src_j[0] for `sources` one-element buffers: running sums of per-step metrics (loss,
 * correct count) kept on the GPU, all in one launch.
 *
 * `guarded` binds the training step's health record after acc: a step whose update was skipped
 * (non-finite loss or gradients) adds to no sum, and acc[sources + j] keeps the first step (its
 * run number, as f32) at which src_j was positive — e.g. when a count of bad labels first appeared.
 */
export function accumulateShader(sources: number, guarded = false): string {
  const bindings = Array.from({ length: sources }, (_, j) => `@group(0) @binding(${j}) var<storage, read> src${j}: array<f32>;`).join('\n');
  const adds = Array.from({ length: sources }, (_, j) => `  acc[${j}] = acc[${j}] + src${j}[0];`).join('\n');
  if (!guarded) {
    return /* wgsl */ `
${bindings}
@group(0) @binding(${sources}) var<storage, read_write> acc: array<f32>;

@compute @workgroup_size(1)
fn main() {
${adds}
}
`;
  }
  const firsts = Array.from(
    { length: sources },
    (_, j) => `  if (src${j}[0] > 0.0 && acc[${sources + j}] == 0.0) { acc[${sources + j}] = f32(atomicLoad(&health.step)); }`,
  ).join('\n');
  return /* wgsl */ `
${stepHealthWGSL}
${bindings}
@group(0) @binding(${sources}) var<storage, read_write> acc: array<f32>;
@group(0) @binding(${sources + 1}) var<storage, read_write> health: StepHealth;
${stepSkippedWGSL}

@compute @workgroup_size(1)
fn main() {
${firsts}
  if (step_skipped()) { return; }
${adds}
}
`;
}
