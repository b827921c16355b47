import { ShapeError } from '../gpu/errors.js';
import type { OpAttrs, OpKind } from './ops/kinds.js';

/** Element type of a graph value: 32-bit float, unsigned or signed integer. */
export type DType = 'f32' | 'u32' | 'i32';

export interface TensorType {
  shape: readonly number[];
  dtype: DType;
}

/** Where a value comes from: fed each step, a trainable parameter, or computed by a node. */
export type ValueKind = 'input' | 'param' | 'op';

/** An edge of the graph: one tensor, produced once. */
export class Value implements TensorType {
  constructor(
    readonly id: number,
    readonly shape: readonly number[],
    readonly dtype: DType,
    readonly kind: ValueKind,
    readonly node: Node | null,
    readonly name: string,
  ) {}

  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  toString(): string {
    return `${this.name}[${this.shape.join(', ')}]`;
  }
}

/** One op application. `layer` names the nn layer that built it, for error messages. */
export class Node<K extends OpKind = OpKind> {
  readonly outputs: Value[] = [];
  constructor(
    readonly id: number,
    readonly op: K,
    readonly inputs: readonly Value[],
    readonly attrs: OpAttrs[K],
    readonly layer: string | undefined,
  ) {}
}

/** A node of any kind, discriminated by `op`: testing `node.op` narrows `node.attrs`. */
export type AnyNode<K extends OpKind = OpKind> = { [P in K]: Node<P> }[K];

export function describeShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/**
 * A dataflow graph under construction. Ops are added through `apply`, which checks shapes at once
 * (via the op's `infer` rule) so that mistakes surface where the user wrote them.
 */
export class Graph {
  readonly values: Value[] = [];
  readonly nodes: AnyNode[] = [];
  readonly inputs: Value[] = [];
  readonly params: Value[] = [];
  /** Layer name stamped on nodes made inside `withLayer`. */
  private layerStack: string[] = [];

  constructor(private readonly infer: <K extends OpKind>(op: K, inputs: readonly TensorType[], attrs: OpAttrs[K], where: string) => TensorType[]) {}

  /** Declares an input fed at every run (`StepDefinition.inputs`). */
  input(name: string, shape: readonly number[], dtype: DType = 'f32'): Value {
    checkShape(name, shape);
    const v = new Value(this.values.length, [...shape], dtype, 'input', null, name);
    this.values.push(v);
    this.inputs.push(v);
    return v;
  }

  /** Declares a parameter read from a parameter store; names must be unique. */
  param(name: string, shape: readonly number[]): Value {
    checkShape(name, shape);
    if (this.params.some((p) => p.name === name)) throw new ShapeError(`parameter name '${name}' is used twice; names must be unique`);
    const v = new Value(this.values.length, [...shape], 'f32', 'param', null, name);
    this.values.push(v);
    this.params.push(v);
    return v;
  }

  /** Adds op `op` on `inputs` with its attributes and returns its outputs; the op's rule checks the shapes and throws a ShapeError naming the layer. */
  apply<K extends OpKind>(op: K, inputs: readonly Value[], attrs: OpAttrs[K]): Value[] {
    const layer = this.layerStack.at(-1);
    const where = layer ? `${layer}: ${op}` : op;
    const types = this.infer(op, inputs, attrs, where);
    const node = new Node(this.nodes.length, op, inputs, attrs, layer);
    // Node<K> for the K of this call is one member of the union.
    this.nodes.push(node as AnyNode);
    types.forEach((t, i) => {
      const v = new Value(this.values.length, t.shape, t.dtype, 'op', node, `${op}${node.id}${types.length > 1 ? `.${i}` : ''}`);
      this.values.push(v);
      node.outputs.push(v);
    });
    return node.outputs;
  }

  /** Runs `build` with nodes attributed to `layer` (shown in shape errors). */
  withLayer<T>(layer: string, build: () => T): T {
    this.layerStack.push(layer);
    try {
      return build();
    } finally {
      this.layerStack.pop();
    }
  }
}

function checkShape(name: string, shape: readonly number[]): void {
  if (!shape.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new ShapeError(`'${name}': shape ${describeShape(shape)} must be positive integers`);
  }
}
