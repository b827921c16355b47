/**
 * The health record of a compiled training step, one small storage buffer the finite check, the
 * optimizer and the metric sums share (all u32, atomics because invocations of one dispatch race):
 *   halted      sticky: set when a step goes bad under onNonFinite 'error'; no update after it
 *   skipped     steps whose update was skipped
 *   first_step  the first bad step (1-based run of the step; 0: none yet)
 *   first_code  what was bad first at that step (see `slots`)
 *   slots       per step parity: 0 when finite, else 0xffffffff for the loss or 0xfffffffe − i for
 *               gradient element i; atomicMax keeps the loss, else the lowest element
 *   parity, step, mode  of the current run, copied from the check's uniforms for later dispatches
 * Two slots, so the optimizer can clear the next step's slot while this step's is still read.
 */
export const stepHealthWGSL = /* wgsl */ `
struct StepHealth {
  halted: atomic<u32>,
  skipped: atomic<u32>,
  first_step: atomic<u32>,
  first_code: atomic<u32>,
  slots: array<atomic<u32>, 2>,
  parity: atomic<u32>,
  step: atomic<u32>,
  mode: atomic<u32>,
}
`;

/** Words in the record, for buffer sizes and readback. */
export const STEP_HEALTH_WORDS = 9;

/**
 * Whether the current step's update was skipped (a bad value this step, or halted before), for a
 * kernel recorded after the update that binds the record as `health`.
 */
export const stepSkippedWGSL = /* wgsl */ `
fn step_skipped() -> bool {
  return atomicLoad(&health.halted) != 0u || atomicLoad(&health.slots[atomicLoad(&health.parity)]) != 0u;
}
`;
