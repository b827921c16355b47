import type { TuneCandidate } from '../gpu/autotune.js';
import type { KernelProgram } from '../kernels/kernel.js';

/**
 * Uniforms of one launch of a program that change from run to run (dropout's Philox stream):
 * the plan keeps that launch's uniform buffer and rewrites it with `uniforms(run)` before each run,
 * `run` counting the runs of the compiled step from 0. Same byte length as the spec's uniforms.
 */
export interface DynamicUniforms {
  /** Index into the program's launches. */
  launch: number;
  uniforms(run: number): ArrayBuffer;
}

/**
 * How one scheduled op runs: a kernel program whose io buffers are the op's inputs then outputs,
 * or a view that shares its first input's storage (reshape, stop_gradient).
 */
export type Lowering = { kind: 'program'; program: KernelProgram; dynamicUniforms?: readonly DynamicUniforms[] } | { kind: 'view' };

export interface LowerContext {
  /** True on a software adapter, where barriers cost more than they save (see kernel families). */
  software: boolean;
  /**
   * Returns the id of the candidate to use for `shapeClass` on this adapter, without waiting for
   * any timing (Autotuner.choose: measured winner, shipped table or the first candidate).
   * `bufferBytes` sizes the throwaway buffers the background tuner times the candidates on.
   */
  tune(shapeClass: string, candidates: TuneCandidate[], bufferBytes: number[]): Promise<string>;
}

export const program = (p: KernelProgram, dynamicUniforms?: readonly DynamicUniforms[]): Lowering =>
  dynamicUniforms ? { kind: 'program', program: p, dynamicUniforms } : { kind: 'program', program: p };
export const VIEW: Lowering = { kind: 'view' };
