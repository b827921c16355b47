import { ShapeError } from '../gpu/errors.js';
import { checkSparsity } from './magnitude.js';

/** A gradual pruning schedule (`polynomialSparsity`): sparsity rises from `initial` to `final` on a cubic curve between steps `begin` and `end`. */
export interface GradualPruning {
  /** Sparsity reached at `end` and kept after it. */
  final: number;
  /** Sparsity at `begin` (default 0). */
  initial?: number;
  /** Step at which pruning starts (default 0). */
  begin?: number;
  /** Step at which `final` is reached. */
  end: number;
}

/**
 * Target sparsity at `step` for gradual pruning (Zhu & Gupta, 2017):
 *   s_t = s_f + (s_i − s_f)(1 − (t − t0)/(t1 − t0))³,   t clamped to [t0, t1].
 * Fast at first, while many redundant weights remain, and slow near the end, so the network can
 * recover between mask updates. Feed it to `Pruner.update` every few steps.
 */
export function polynomialSparsity(step: number, o: GradualPruning): number {
  const initial = o.initial ?? 0;
  const begin = o.begin ?? 0;
  checkSparsity('polynomialSparsity (final)', o.final);
  checkSparsity('polynomialSparsity (initial)', initial);
  if (initial > o.final) throw new ShapeError(`polynomialSparsity: initial sparsity ${initial} exceeds final ${o.final}; sparsity only grows, so swap them`);
  if (!(o.end > begin)) throw new ShapeError(`polynomialSparsity: end step ${o.end} must come after begin step ${begin}`);
  const progress = Math.min(1, Math.max(0, (step - begin) / (o.end - begin)));
  return o.final + (initial - o.final) * (1 - progress) ** 3;
}
