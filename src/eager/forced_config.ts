import type { Engine } from '../gpu/engine.js';
import { KernelConfigError } from '../gpu/errors.js';
import type { KernelProgram } from '../gpu/kernel_spec.js';
import { limitRefusal } from '../gpu/tune_limits.js';

export { KernelConfigError };

/** The configurations an op may be forced to, and how to build its launches with one. */
export interface ForcedConfigChoices {
  /** Every configuration id the op knows. */
  known: readonly string[];
  /** The ids worth suggesting for this call (e.g. the autotuner's candidates for the shape); default `known`. */
  suggested?: readonly string[];
  programOf(id: string): KernelProgram;
}

/** Why this device refuses one of `program`'s launches, or undefined when it runs them all. */
function refusalOf(engine: Engine, program: KernelProgram): string | undefined {
  const { limits, features } = engine.info;
  for (const { spec } of program.launches) {
    const refusal = limitRefusal(spec, limits, features);
    if (refusal) return refusal;
  }
  return undefined;
}

/** The ids among `ids` whose launches this device runs (ids whose launches cannot be built for these shapes left out). */
function runnable(engine: Engine, ids: readonly string[], programOf: (id: string) => KernelProgram): string[] {
  return ids.filter((id) => {
    try {
      return !refusalOf(engine, programOf(id));
    } catch {
      return false;
    }
  });
}

/**
 * The program of configuration `id`, forced on `op`, after checking that the op knows it and that
 * this device runs every launch of it; otherwise a KernelConfigError naming the configuration, the
 * op, the missing feature or the limit, and the ids this device does run.
 */
export function forcedProgram(engine: Engine, op: string, id: string, choices: ForcedConfigChoices): KernelProgram {
  const leaveOut = 'or leave out `config` to let the autotuner choose among what this device runs';
  if (!choices.known.includes(id)) {
    throw new KernelConfigError(op, op, id, `${op} has no config '${id}'; pick one of ${choices.known.join(', ')}, ${leaveOut}`);
  }
  const program = choices.programOf(id);
  const refusal = refusalOf(engine, program);
  if (refusal) {
    const others = runnable(engine, (choices.suggested ?? choices.known).filter((other) => other !== id), choices.programOf);
    const pick = others.length > 0 ? `pick a config this device runs (${others.join(', ')}), ` : '';
    throw new KernelConfigError(program.name, op, id, `${op} config '${id}' cannot run on this device: ${refusal}. Fix: ${pick}${leaveOut}`);
  }
  return program;
}

/**
 * The program of `config` when one is forced (checked as `forcedProgram` does), else of the
 * family's default (`programOf()`), for ops whose direct launch also serves unforced options.
 */
export function programFor<C extends string>(engine: Engine, op: string, config: C | undefined, known: readonly C[], programOf: (config?: C) => KernelProgram): KernelProgram {
  if (config === undefined) return programOf();
  return forcedProgram(engine, op, config, { known, programOf: (id) => programOf(id as C) });
}
