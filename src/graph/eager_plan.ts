import type { Engine } from '../gpu/engine.js';
import type { KernelProgram } from '../gpu/kernel_spec.js';
import { Value, type TensorType } from './ir.js';
import type { LowerContext, Lowering } from './lower.js';
import { ruleOf, RULES } from './ops/index.js';
import type { OpAttrs, OpKind } from './ops/kinds.js';

/** The output types of one op on `inputs`, or the op's own ShapeError (the same check a graph makes). */
export function inferOne<K extends OpKind>(op: K, inputs: readonly TensorType[], attrs: OpAttrs[K], where: string = op): TensorType[] {
  return ruleOf(op).infer(inputs, attrs, where);
}

/** Identifies a one-node plan: equal keys lower to equal programs. */
export function oneNodeKey<K extends OpKind>(op: K, inputs: readonly TensorType[], attrs: OpAttrs[K]): string {
  let key = `${op}|${JSON.stringify(attrs)}`;
  for (const t of inputs) key += `|${t.dtype}${t.shape.join('x')}`;
  return key;
}

/**
 * The kernels of a one-node plan: the op's own lowering, as compileStep uses it, with the
 * autotuner's known or default configuration (an eager call never waits for timing). Synchronous
 * where the rule's lowering is (most ops), so a new shape of a compiled kernel records at once. A
 * view (reshape) becomes a copy, since an eager result owns its buffer.
 */
export function lowerOne<K extends OpKind>(
  engine: Engine,
  op: K,
  attrs: OpAttrs[K],
  inputs: readonly TensorType[],
  outputs: readonly TensorType[],
): KernelProgram | Promise<KernelProgram> {
  const ctx: LowerContext = {
    software: engine.info.software,
    tune: async (shapeClass, candidates) => engine.tuner.cachedOrDefault(shapeClass, candidates),
  };
  const value = (t: TensorType, i: number, kind: 'input' | 'op') => new Value(i, t.shape, t.dtype, kind, null, `${kind}${i}`);
  const step = { op, attrs, inputs: inputs.map((t, i) => value(t, i, 'input')), outputs: outputs.map((t, i) => value(t, inputs.length + i, 'op')) };
  const programOf = (lowering: Lowering): KernelProgram | Promise<KernelProgram> => {
    if (lowering.kind === 'program') return lowering.program;
    const copy = RULES.scale.lower({ op: 'scale', attrs: { scale: 1, shift: 0 }, inputs: step.inputs, outputs: step.outputs }, ctx);
    return copy instanceof Promise ? copy.then(programOf) : programOf(copy);
  };
  const lowering = ruleOf(op).lower(step, ctx);
  return lowering instanceof Promise ? lowering.then(programOf) : programOf(lowering);
}
