import type { KernelSpec } from '../kernels/kernel.js';

/**
 * A parameter update over flat buffers, as the executor runs it: one kernel bound to
 * (params, grads, ...state buffers named by `stateKeys`), whose uniforms are rewritten every step
 * so the step count and learning rate change without recompiling.
 */
export interface UpdateRule {
  readonly name: string;
  readonly stateKeys: readonly string[];
  /** With `guarded`, the kernel also binds the step's health record (after the state buffers) and skips a bad step. */
  kernel(n: number, step: number, guarded?: boolean): KernelSpec;
  uniforms(n: number, step: number): ArrayBuffer;
}
