import { ShapeError } from '../../gpu/errors.js';
import { singleLaunch } from '../../kernels/kernel.js';
import { pointwiseLossBackward, pointwiseLossProgram, type PointwiseLoss } from '../../kernels/pointwise_loss.js';
import type { Graph, Value } from '../ir.js';
import { program } from '../lower.js';
import { expectArity, expectSameShape, scaleBy, type OpRule } from './rule.js';

/** Attributes of the pointwise losses (means of per-element terms) and their backward ops. */
export interface PointwiseLossOps {
  /** pred, target of equal shape → mean squared error [1]. */
  mse: Record<string, never>;
  /** pred, target → d mse / d pred = 2 (pred − target) / n. */
  mse_backward: Record<string, never>;
  /** logits, targets of equal shape → mean binary cross-entropy [1] (numerically stable form). */
  bce_with_logits: Record<string, never>;
  /** logits, targets → d bce / d logits = (sigmoid(x) − t)/n. */
  bce_with_logits_backward: Record<string, never>;
}

/** What differs between the pointwise losses besides their WGSL terms. */
interface LossSpec {
  operands: string;
  /** How the target's gradient follows from the prediction's, or null when targets take none. */
  targetGrad: ((g: Graph, dPred: Value) => Value) | null;
}

const SPECS: { [K in PointwiseLoss]: LossSpec } = {
  // L = mean((p − t)²): dp = 2(p − t)/n, dt = −dp
  mse: { operands: 'prediction, target', targetGrad: (g, dp) => g.apply('scale', [dp], { scale: -1, shift: 0 })[0] },
  // L = mean(max(x,0) − x·t + log(1 + e^−|x|)): dx = (σ(x) − t)/n
  bce_with_logits: { operands: 'logits, targets', targetGrad: null },
};

type Backward<K extends PointwiseLoss> = `${K}_backward`;

/** The rule of loss `kind`: mean [1] of its term; the gradient is its backward op times the upstream scalar. */
function lossRule<K extends PointwiseLoss>(kind: K, backward: Backward<K>): OpRule<K> {
  const { operands, targetGrad } = SPECS[kind];
  return {
    infer(inputs, _attrs, where) {
      expectArity(where, inputs, 2, operands);
      expectSameShape(where, inputs[0], inputs[1], `the ${operands.split(', ')[1]} must have the shape of the ${operands.split(', ')[0]}`);
      return [{ shape: [1], dtype: 'f32' }];
    },
    grad(g, node, [up], needs) {
      if (up === null) return [null, null];
      if (needs[1] && !targetGrad) throw new ShapeError(`${kind}: targets are not differentiable; detach them`);
      const dPred = scaleBy(g, g.apply(backward as Backward<PointwiseLoss>, [...node.inputs], {})[0], up)!;
      return [dPred, needs[1] && targetGrad ? targetGrad(g, dPred) : null];
    },
    lower: ({ inputs: [pred] }) => program(pointwiseLossProgram(kind, pred.size)),
  };
}

function lossBackwardRule<K extends PointwiseLoss>(kind: K): OpRule<Backward<K>> {
  return {
    infer(inputs, _attrs, where) {
      expectArity(where, inputs, 2, SPECS[kind].operands);
      expectSameShape(where, inputs[0], inputs[1]);
      return [{ shape: inputs[0].shape, dtype: 'f32' }];
    },
    grad: 'nondiff',
    lower: ({ inputs: [pred] }) => program(singleLaunch(pointwiseLossBackward(kind, pred.size, false))),
  };
}

export const mseRule = lossRule('mse', 'mse_backward');
export const mseBackwardRule = lossBackwardRule('mse');
export const bceWithLogitsRule = lossRule('bce_with_logits', 'bce_with_logits_backward');
export const bceWithLogitsBackwardRule = lossBackwardRule('bce_with_logits');

/**
 * mse built from existing ops: mean((p − t)²) as sub, mul, a sum over the flattened values and a
 * scale by 1/n. The fused `mse` op (one reduction kernel, one backward kernel) is an optimisation
 * of exactly this; its tests use this composition, and its autodiff, as the oracle.
 */
export function mseComposition(g: Graph, pred: Value, target: Value): Value {
  const [d] = g.apply('sub', [pred, target], {});
  const [sq] = g.apply('mul', [d, d], {});
  const [row] = g.apply('reshape', [sq], { shape: [1, sq.size] });
  const [total] = g.apply('sum', [row], { axis: 1 });
  return g.apply('scale', [total], { scale: 1 / sq.size, shift: 0 })[0];
}
