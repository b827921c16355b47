import { describe, expect, expectTypeOf, it } from 'vitest';
import { ACTIVATION_WGSL, ACTIVATIONS } from '../../shaders/lib/activations.js';
import { createGraph } from '../../src/graph/graph.js';
import type { AnyNode } from '../../src/graph/ir.js';
import { RULES, ruleOf } from '../../src/graph/ops/index.js';
import type { OpAttrs } from '../../src/graph/ops/kinds.js';
import type { LayerNormOps } from '../../src/graph/ops/layer_norm.js';
import type { PointwiseLossOps } from '../../src/graph/ops/pointwise_loss.js';
import type { RuleTable } from '../../src/graph/ops/rule.js';
import { scheduleOf, type ScheduledOp } from '../../src/graph/passes/schedule.js';
import { distillationLoss } from '../reference/distillation_loss.js';
import { evaluate, REFERENCE } from '../reference/graph.js';
import type { ReferenceTable } from '../reference/ref_op.js';

// The central tables are typed so that a gap is a compile error: CI's `tsc --noEmit -p .` checks
// the `@ts-expect-error` lines below (each must be an error, or tsc fails), the runtime checks
// that the tables and the unions agree with what a graph actually holds.

describe('typed op tables', () => {
  it('RULES has a rule for every kind, and a table missing one is not a RuleTable', () => {
    const { layer_norm: _dropped, ...rest } = RULES;
    // @ts-expect-error: layer_norm is missing, so this is not a RuleTable
    const partial: RuleTable = rest;
    expect(Object.keys(partial)).not.toContain('layer_norm');
    expect(ruleOf('layer_norm')).toBe(RULES.layer_norm);
  });

  it("each op's attribute type is declared next to its rule and is the one OpAttrs holds", () => {
    expectTypeOf<OpAttrs['layer_norm']>().toEqualTypeOf<LayerNormOps['layer_norm']>();
    expectTypeOf<OpAttrs['mse']>().toEqualTypeOf<PointwiseLossOps['mse']>();
    const attrs: OpAttrs['layer_norm'] = { eps: 1e-5 };
    // @ts-expect-error: layer_norm's attributes have no `axis`
    const wrong: OpAttrs['layer_norm'] = { eps: 1e-5, axis: -1 };
    expect([attrs.eps, wrong.eps]).toEqual([1e-5, 1e-5]);
  });

  it('the float64 interpreter has an entry for every kind the rules have, and a table missing one is not a ReferenceTable', () => {
    expect(Object.keys(REFERENCE).sort()).toEqual(Object.keys(RULES).sort());
    const { distillation_loss: _dropped, ...rest } = REFERENCE;
    // @ts-expect-error: distillation_loss is missing, so this is not a ReferenceTable
    const partial: ReferenceTable = rest;
    expect(Object.keys(partial)).not.toContain('distillation_loss');
  });

  it('the interpreter evaluates distillation_loss (loss and dStudent) from its reference', () => {
    const g = createGraph();
    const s = g.input('student', [2, 3]);
    const t = g.input('teacher', [2, 3]);
    const [loss, ds] = g.apply('distillation_loss', [s, t], { temperature: 2 });
    const sv = Float64Array.of(0.5, -1, 2, 0, 0.25, -0.75);
    const tv = Float64Array.of(1, 0, -1, 0.3, 0.2, 0.1);
    const env = evaluate(g, new Map([[s, sv], [t, tv]]));
    expect(env.get(loss)![0]).toBeCloseTo(distillationLoss(sv, tv, 3, 2), 12);
    expect(env.get(ds)!.length).toBe(6);
  });

  it('every activation kind has its WGSL in one table, and a table missing one fails tsc', () => {
    expect(Object.keys(ACTIVATION_WGSL).sort()).toEqual([...ACTIVATIONS].sort());
    const { gelu: _dropped, ...rest } = ACTIVATION_WGSL;
    // @ts-expect-error: gelu is missing
    const partial: typeof ACTIVATION_WGSL = rest;
    expect(Object.keys(partial)).not.toContain('gelu');
  });

  it('ScheduledOp is discriminated by op: narrowing on op types the attributes', () => {
    const g = createGraph();
    const x = g.input('x', [2, 3]);
    g.apply('sum', [g.apply('activation', [x], { activation: { kind: 'relu' } })[0]], { axis: 0 });
    const axes: number[] = [];
    const kinds: string[] = [];
    for (const step of scheduleOf(g)) {
      // @ts-expect-error: without narrowing, attrs is a union and `axis` is not on every member
      void step.attrs.axis;
      if (step.op === 'sum') axes.push(step.attrs.axis);
      else if (step.op === 'activation') kinds.push(step.attrs.activation.kind);
    }
    expect(axes).toEqual([0]);
    expect(kinds).toEqual(['relu']);
  });

  it('a step built for one kind cannot carry the attributes of another', () => {
    const [v] = createGraph().apply('reshape', [createGraph().input('x', [4])], { shape: [2, 2] });
    // @ts-expect-error: sum's attributes are { axis }, not reshape's { shape }
    const wrong: ScheduledOp = { op: 'sum', attrs: { shape: [2, 2] }, inputs: [v], outputs: [v] };
    expect(wrong.op).toBe('sum');
  });

  it("graph nodes are the same union: a node's op narrows its attrs", () => {
    const g = createGraph();
    g.apply('scale', [g.input('x', [3])], { scale: 2, shift: 1 });
    const node: AnyNode = g.nodes[0];
    expect(node.op === 'scale' ? [node.attrs.scale, node.attrs.shift] : []).toEqual([2, 1]);
  });

  it('an op kind the table lacks (from JavaScript) is refused by name', () => {
    const g = createGraph();
    const x = g.input('x', [1]);
    expect(() => g.apply('toString' as never, [x], {} as never)).toThrow(/unknown op 'toString'/);
  });
});
