import { DatasetError } from '../data/idx.js';
import { DivergenceError } from '../gpu/errors.js';
import type { ParameterStore } from '../graph/params.js';
import { decodeStepHealth } from '../graph/step_health.js';
import type { MetricSnapshot } from './metric_sums.js';

export interface StepWatchOptions {
  /** Names the caller in messages: 'fit', 'distill'. */
  who: string;
  /** Runs the compiled step has submitted so far (`CompiledStep.step`). */
  runs: () => number;
  store: ParameterStore;
  stepsPerEpoch: number;
  /** The summed metric counting rows whose label is ≥ `classes` (and not the ignored one). */
  invalidLabels?: { metric: string; classes: number };
}

/**
 * Reads what the GPU flagged during training, at the metric readbacks the loop makes anyway: rows
 * with labels out of range (a DatasetError) and non-finite losses or gradients (a DivergenceError,
 * or under onNonFinite 'skip' a count of skipped steps). Steps are the compiled step's runs, 1-based
 * over the whole loop.
 */
export class StepWatch {
  /** Skipped updates already taken off the store's update count. */
  private uncounted = 0;

  constructor(private readonly o: StepWatchOptions) {}

  /** Throws on a flagged problem; otherwise returns how many updates were skipped so far. */
  check(s: MetricSnapshot): number {
    const { who, stepsPerEpoch, invalidLabels: labels } = this.o;
    const epochOf = (run: number) => Math.ceil(run / stepsPerEpoch);
    if (labels && s.sums[labels.metric] > 0) {
      const first = s.firstPositive[labels.metric];
      throw new DatasetError(
        `${who}: ${s.sums[labels.metric]} training label(s) are ≥ ${labels.classes}, the model's class count, first at step ${first} (epoch ${epochOf(first)}). ` +
          'Labels must lie in 0…classes−1: fix the data, raise `classes`, or set `ignoreIndex` to the label of rows to leave out.',
      );
    }
    if (!s.health) return 0;
    const health = decodeStepHealth(s.health, this.o.store);
    // The CPU counted every run as an update (Adam's t); the GPU applied none of the skipped ones.
    const { store, runs } = this.o;
    if (health.halted) {
      const notApplied = runs() - (health.firstBadRun - 1);
      store.setOptimizerSteps(Math.max(0, store.optimizerSteps - (notApplied - this.uncounted)));
      this.uncounted = notApplied;
      throw new DivergenceError(health.firstBadRun, epochOf(health.firstBadRun), health.firstBad!, who);
    }
    if (health.skipped > this.uncounted) {
      store.setOptimizerSteps(Math.max(0, store.optimizerSteps - (health.skipped - this.uncounted)));
      this.uncounted = health.skipped;
    }
    return health.skipped;
  }
}
