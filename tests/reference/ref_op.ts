import type { OpKind } from '../../src/graph/ops/kinds.js';
import type { ScheduledOp } from '../../src/graph/passes/schedule.js';

/**
 * The float64 outputs of one op of kind K from the values of its inputs (in the step's order),
 * written from the op's definition. `run` is the compiled step's run index (dropout's stream).
 * Ops that update an input in place (batch_norm's running statistics) write into `x`.
 */
export type RefOp<K extends OpKind> = (x: readonly Float64Array[], step: ScheduledOp<K>, run: number) => Float64Array[];

/** One reference per op kind: a kind added to OpAttrs without one fails `tsc`. */
export type ReferenceTable = { [K in OpKind]: RefOp<K> };
