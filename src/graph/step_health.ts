import type { ParameterStore } from './params.js';

/** A training step's health record, decoded (see `CompiledStep.healthRange`). */
export interface StepHealth {
  /** Updates stopped for good after a bad run (onNonFinite 'error'). */
  halted: boolean;
  /** Runs whose update was skipped because their loss or gradients were non-finite. */
  skipped: number;
  /** The first such run (1-based, counted by the compiled step), or 0 if none. */
  firstBadRun: number;
  /** What was non-finite first in that run: 'loss', or the parameter whose gradient it was. */
  firstBad?: string;
}

/** Decodes the record's u32 words; gradient element codes are named by `store`'s offsets. */
export function decodeStepHealth(words: Uint32Array, store: ParameterStore): StepHealth {
  const [halted, skipped, firstBadRun, code] = words;
  const health: StepHealth = { halted: halted !== 0, skipped, firstBadRun };
  if (firstBadRun !== 0) {
    const element = 0xfffffffe - code;
    health.firstBad = code === 0xffffffff ? 'loss' : (store.parameterAt(element)?.name ?? `gradient element ${element}`);
  }
  return health;
}
