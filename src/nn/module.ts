import type { Graph, Value } from '../graph/ir.js';
import type { Init, ParameterStore } from '../graph/params.js';

/** What a layer's forward pass may depend on besides its input. */
export interface ForwardContext {
  store: ParameterStore;
  /** Training mode (dropout active, batch statistics) or evaluation mode. */
  training: boolean;
}

/** One parameter a layer declares: its name, shape and initialisation. */
export interface ParamSpec {
  /** Local name, e.g. 'weight'; the store holds it as `${path}.${name}` (PyTorch state_dict keys). */
  name: string;
  shape: readonly number[];
  init: Init;
}

/**
 * A layer is a graph builder: it declares its parameters once and adds its ops to a graph when
 * traced. Names follow PyTorch (Sequential children are '0', '1', …; parameters 'weight', 'bias'),
 * so checkpoints map one-to-one onto the equivalent torch.nn module.
 */
export abstract class Module {
  /** Dotted path in the model, set when the module is placed in a parent. */
  path = '';

  /** Human-readable description used in error messages, e.g. 'Linear(784→256)'. */
  abstract describe(): string;

  /** This module's own parameters (not its children's); none by default. */
  params(): ParamSpec[] {
    return [];
  }

  /** The modules inside this one, named by position ('0', '1', …) in parameter paths. */
  children(): Module[] {
    return [];
  }

  /** Adds this layer's ops to `g` for input `x` and returns the output. Call `apply`, which names the layer in errors. */
  abstract forward(g: Graph, x: Value, ctx: ForwardContext): Value;

  /** Parameter value of this module in graph `g`. */
  protected param(g: Graph, ctx: ForwardContext, name: string): Value {
    return ctx.store.value(g, this.path ? `${this.path}.${name}` : name);
  }

  /** Declares this module's parameters, and its children's, in `store`. */
  register(store: ParameterStore, path = this.path): void {
    this.path = path;
    for (const p of this.params()) store.add(path ? `${path}.${p.name}` : p.name, p.shape, p.init);
    this.children().forEach((c, i) => c.register(store, path ? `${path}.${i}` : String(i)));
  }

  /** Adds this module's ops with its description as the layer name in shape errors. */
  apply(g: Graph, x: Value, ctx: ForwardContext): Value {
    return g.withLayer(this.describe(), () => this.forward(g, x, ctx));
  }
}
