import type { KernelSpec } from '../kernels/kernel.js';

/**
 * A parameter update over flat buffers, as the executor runs it: one kernel bound to
 * (params, grads, ...state buffers named by `stateKeys`), whose uniforms are rewritten every step
 * so the step count and learning rate change without recompiling.
 */
export interface UpdateRule {
  readonly name: string;
  readonly stateKeys: readonly string[];
  kernel(n: number, step: number): KernelSpec;
  uniforms(n: number, step: number): ArrayBuffer;
}
