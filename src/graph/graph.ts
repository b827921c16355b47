import { WebGPUDLError } from '../gpu/errors.js';
import { Graph } from './ir.js';
import { RULES } from './ops/index.js';
import type { OpKind } from './ops/kinds.js';

/** A graph whose ops are checked by the rule table as they are added. */
export function createGraph(): Graph {
  return new Graph((op, inputs, attrs, where) => {
    const rule = RULES[op as OpKind];
    if (!rule) throw new WebGPUDLError(`unknown op '${op}'`);
    return (rule.infer as (i: typeof inputs, a: typeof attrs, w: string) => ReturnType<typeof rule.infer>)(inputs, attrs, where);
  });
}
