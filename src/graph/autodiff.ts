import { ShapeError } from '../gpu/errors.js';
import { describeShape, type Graph, type Node, type Value } from './ir.js';
import { ruleOf } from './ops/index.js';
import { ONE, type Grad } from './ops/rule.js';

/**
 * Reverse-mode differentiation: appends to `g` the nodes computing d loss / d v for each v in `wrt`
 * and returns them. Only nodes on a path from `wrt` to `loss` are differentiated, so frozen
 * parameters (left out of `wrt`) cost nothing. Gradients meeting at a fan-out are summed.
 */
export function gradients(g: Graph, loss: Value, wrt: readonly Value[]): Map<Value, Value> {
  if (loss.dtype !== 'f32' || loss.size !== 1) {
    throw new ShapeError(`gradients: the loss must be a single f32 value, got ${loss} ${describeShape(loss.shape)}`);
  }
  const forward = g.nodes.slice(0, loss.node ? loss.node.id + 1 : 0);
  const dependsOnWrt = new Set<Value>(wrt);
  for (const node of forward) {
    if (node.op !== 'stop_gradient' && node.inputs.some((v) => dependsOnWrt.has(v))) node.outputs.forEach((v) => dependsOnWrt.add(v));
  }
  if (!dependsOnWrt.has(loss)) return new Map(wrt.map((w) => [w, zerosLike(g, w)]));

  const grads = new Map<Value, Grad>([[loss, ONE]]);
  const accumulate = (v: Value, d: Value) => {
    const have = grads.get(v);
    grads.set(v, have === undefined || have === null ? d : have === ONE ? d : g.apply('add', [have, d], {})[0]);
  };

  for (let i = forward.length - 1; i >= 0; i--) {
    const node = forward[i];
    const outGrads = node.outputs.map((v) => grads.get(v) ?? null);
    if (outGrads.every((d) => d === null)) continue;
    const needs = node.inputs.map((v) => dependsOnWrt.has(v) && v.dtype === 'f32');
    if (!needs.some(Boolean)) continue;
    const rule = ruleOf(node.op);
    if (rule.grad === 'nondiff') {
      throw new ShapeError(`gradients: ${where(node)} is not differentiable, but the loss depends on its inputs through it; detach them`);
    }
    const inGrads = rule.grad(g, node, outGrads, needs);
    node.inputs.forEach((v, k) => {
      const d = inGrads[k];
      if (needs[k] && d) accumulate(v, d);
    });
  }

  return new Map(
    wrt.map((w) => {
      const d = grads.get(w);
      return [w, d === undefined || d === null ? zerosLike(g, w) : d === ONE ? g.apply('scale', [w], { scale: 0, shift: 1 })[0] : d];
    }),
  );
}

/** A parameter the loss does not depend on has gradient zero (as PyTorch's zero_grad leaves it). */
function zerosLike(g: Graph, v: Value): Value {
  return g.apply('scale', [g.apply('stop_gradient', [v], {})[0]], { scale: 0, shift: 0 })[0];
}

function where(node: Node): string {
  return node.layer ? `${node.layer}: ${node.op}` : node.op;
}
