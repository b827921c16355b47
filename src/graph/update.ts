import type { KernelSpec } from '../kernels/kernel.js';
import type { UniformImage } from '../kernels/optimizer.js';

export type { UniformImage } from '../kernels/optimizer.js';

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
  /**
   * Rewrites, in `image` (a copy of the uniforms `kernel` made, kept by the compiled step), the
   * values that change between steps (the update count `step`, 1-based, the learning rate and
   * what derives from them). It runs every training step, so it must allocate nothing.
   */
  writeUniforms(image: UniformImage, step: number): void;
}
