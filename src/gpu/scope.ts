/** Anything a scope can free: tensors, compiled steps. */
export interface ScopedResource {
  dispose(): void;
}

function isResource(value: unknown): value is ScopedResource {
  return typeof value === 'object' && value !== null && typeof (value as ScopedResource).dispose === 'function';
}

/** Every resource reachable from `value` through arrays and plain objects. */
export function collectResources(value: unknown, into = new Set<ScopedResource>(), seen = new Set<unknown>()): Set<ScopedResource> {
  if (typeof value !== 'object' || value === null || seen.has(value)) return into;
  seen.add(value);
  if (isResource(value)) into.add(value);
  if (Array.isArray(value)) for (const v of value) collectResources(v, into, seen);
  else if (Object.getPrototypeOf(value) === Object.prototype) for (const v of Object.values(value)) collectResources(v, into, seen);
  return into;
}

/**
 * Open scopes, innermost last. A resource made while a scope is open belongs to the innermost one;
 * when that scope ends, whatever it returned moves to the scope around it (or to the caller) and
 * the rest is freed.
 */
export class ScopeStack {
  private readonly open: Set<ScopedResource>[] = [];

  /** Called by resources as they are made. */
  track(resource: ScopedResource): void {
    this.open.at(-1)?.add(resource);
  }

  /**
   * Runs `fn` in a new scope. For an async `fn` the scope stays open until its promise settles, so
   * resources made after an `await` inside it are freed too; a scope must end before a scope that
   * began before it (nest scopes, do not interleave two running concurrently).
   */
  run<T>(fn: () => T): T {
    const scope = new Set<ScopedResource>();
    this.open.push(scope);
    let result: T;
    try {
      result = fn();
    } catch (error) {
      this.close(scope, undefined);
      throw error;
    }
    if (result instanceof Promise) {
      return result.then(
        (value) => {
          this.close(scope, value);
          return value;
        },
        (error) => {
          this.close(scope, undefined);
          throw error;
        },
      ) as T;
    }
    this.close(scope, result);
    return result;
  }

  private close(scope: Set<ScopedResource>, result: unknown): void {
    const i = this.open.lastIndexOf(scope);
    if (i >= 0) this.open.splice(i, 1);
    const kept = collectResources(result);
    const outer = this.open.at(-1);
    for (const r of scope) {
      if (!kept.has(r)) r.dispose();
      else outer?.add(r);
    }
  }
}
