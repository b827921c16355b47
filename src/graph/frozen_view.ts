import type { BufferRange } from '../gpu/buffers.js';
import { ShapeError } from '../gpu/errors.js';
import type { Graph, Value } from './ir.js';
import { ParameterStore } from './params.js';

/**
 * Another store's tensors shown to a graph under names prefixed with `scope`, and never trained.
 * Two models registered at the root of their own stores (a student and a teacher of the same
 * architecture) name their parameters alike ('0.weight', …), while a graph, and compileStep,
 * identify parameters by name: tracing one of them through this view keeps the names apart.
 * Modules ask for their unprefixed names through `value`; compileStep asks with the graph's
 * prefixed names through `has`, `isBuffer` and `range`. Holds no GPU memory of its own; asking for
 * a gradient range throws, so a step that tried to minimize over it fails when it is compiled.
 */
export class FrozenView extends ParameterStore {
  constructor(
    private readonly inner: ParameterStore,
    readonly scope: string,
  ) {
    super(inner.engine, inner.options);
    if (scope === '') throw new ShapeError('FrozenView: the scope must be a non-empty name prefix such as "teacher/"');
  }

  override has(name: string): boolean {
    return name.startsWith(this.scope) && this.inner.has(name.slice(this.scope.length));
  }

  /** True where the viewed store's tensor is a buffer. */
  override isBuffer(name: string): boolean {
    return this.inner.isBuffer(this.unscoped(name));
  }

  override value(g: Graph, name: string): Value {
    const e = this.inner.entry(name);
    const scoped = this.scope + name;
    return g.params.find((p) => p.name === scoped) ?? g.param(scoped, e.shape);
  }

  override range(name: string): BufferRange {
    return this.inner.range(this.unscoped(name));
  }

  /** Always throws a ShapeError: a frozen tensor has no gradient, so a step minimizing over it fails to compile. */
  override gradRange(name: string): BufferRange {
    throw new ShapeError(`'${this.unscoped(name)}' is shown frozen under '${this.scope}': it has no gradient and is never trained`);
  }

  private unscoped(name: string): string {
    if (!name.startsWith(this.scope)) throw new ShapeError(`'${name}' is not under '${this.scope}'`);
    return name.slice(this.scope.length);
  }
}
