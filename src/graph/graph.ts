import { WebGPUDLError } from '../gpu/errors.js';
import { Graph } from './ir.js';
import { ruleOf, RULES } from './ops/index.js';

/** A graph whose ops are checked by the rule table as they are added. */
export function createGraph(): Graph {
  return new Graph((op, inputs, attrs, where) => {
    // JavaScript callers can name a kind the table lacks.
    if (!Object.hasOwn(RULES, op)) throw new WebGPUDLError(`unknown op '${op}'`);
    return ruleOf(op).infer(inputs, attrs, where);
  });
}
