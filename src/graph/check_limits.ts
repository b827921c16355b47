import type { Engine } from '../gpu/engine.js';
import { ShapeError } from '../gpu/errors.js';
import type { Graph } from './ir.js';
import type { ParamEntry, ParameterStore } from './params.js';

/**
 * The most bytes one buffer may hold and still be bound whole as storage on this device: past
 * either limit, createBuffer or the bind group fails on the GPU, and the validation errors that
 * follow name the launches that met the invalid buffer (a matmul's workgroups), not the cause.
 */
export function storageLimit(engine: Engine): { bytes: number; name: string } {
  const { maxBufferSize, maxStorageBufferBindingSize } = engine.device.limits;
  return maxBufferSize < maxStorageBufferBindingSize
    ? { bytes: maxBufferSize, name: 'maxBufferSize' }
    : { bytes: maxStorageBufferBindingSize, name: 'maxStorageBufferBindingSize' };
}

/** "3.1 GiB (3334471936 bytes)". */
export function describeBytes(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(1)} ${units[unit]} (${bytes} bytes)`;
}

/**
 * Throws a ShapeError before a store's flat buffers (parameters, gradients, optimizer state, each
 * the size of all parameters together) are made, if they cannot exist on this device; the message
 * names the largest tensors, which are where the fix lies.
 */
export function checkParameterLimits(store: ParameterStore): void {
  const limit = storageLimit(store.engine);
  for (const [what, entries, bytes] of [
    ['parameters', store.list, store.length * 4],
    ['buffers (running statistics)', store.buffers, store.buffers.reduce((a, e) => a + e.size * 4, 0)],
  ] as const) {
    if (bytes <= limit.bytes) continue;
    const largest = [...entries].sort((a, b) => b.size - a.size).slice(0, 2);
    throw new ShapeError(
      `the model's ${what} take ${describeBytes(bytes)} in one flat buffer, over this device's ${limit.name} of ${describeBytes(limit.bytes)}; ` +
        `the largest: ${largest.map(describeEntry).join(', ')}. Use smaller layers (at most ${Math.floor(limit.bytes / 4)} values in all)`,
    );
  }
}

function describeEntry(e: ParamEntry): string {
  return `'${e.name}' [${e.shape.join(', ')}] ${describeBytes(e.size * 4)}`;
}

/**
 * Throws a ShapeError before a step's buffers are made if an input or an intermediate tensor of
 * `g` cannot be bound on this device, naming the op, its layer, the shape and how many rows fit.
 */
export function checkStepLimits(engine: Engine, g: Graph): void {
  const limit = storageLimit(engine);
  for (const v of g.values) {
    const bytes = v.size * 4;
    if (v.kind === 'param' || bytes <= limit.bytes) continue;
    const where = v.node ? `${v.node.op} in ${v.node.layer ? `layer '${v.node.layer}'` : 'the step'}` : `input '${v.name}'`;
    const rows = Math.floor(limit.bytes / (bytes / v.shape[0]));
    const fix = rows >= 1 ? `use a smaller batch (at most ${rows} rows of this tensor fit) or smaller layers` : 'even one row is too big: use smaller layers';
    throw new ShapeError(`${where}: tensor [${v.shape.join(', ')}] takes ${describeBytes(bytes)}, over this device's ${limit.name} of ${describeBytes(limit.bytes)}; ${fix}`);
  }
}
