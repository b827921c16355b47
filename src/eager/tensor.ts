import '../gpu/dispose.js';
import type { Engine } from '../gpu/engine.js';
import { DisposedError, ShapeError } from '../gpu/errors.js';
import type { KernelProgram, KernelSpec } from '../gpu/kernel_spec.js';
import { programKey } from '../gpu/recorder.js';
import { inferOne, lowerOne, oneNodeKey } from '../graph/eager_plan.js';
import type { DType, TensorType } from '../graph/ir.js';
import type { OpAttrs, OpKind } from '../graph/ops/kinds.js';
import { product } from '../kernels/geometry.js';
import { singleLaunch } from '../kernels/kernel.js';

export type { DType };
export type TypedArrayOf<D extends DType> = D extends 'f32' ? Float32Array : D extends 'i32' ? Int32Array : Uint32Array;

const ARRAY_OF = { f32: Float32Array, i32: Int32Array, u32: Uint32Array } as const;

/**
 * A GPU-resident array owned by the caller: it holds one buffer until dispose() (or the end of a
 * `using` block or of the `engine.scope` it was made in). Eager ops record work without waiting;
 * `read()` submits and copies back.
 */
export class Tensor<D extends DType = DType> implements Disposable {
  private gpuBuffer: GPUBuffer | undefined;
  readonly size: number;

  constructor(
    readonly engine: Engine,
    readonly shape: readonly number[],
    readonly dtype: D,
    buffer: GPUBuffer,
  ) {
    this.size = product(shape);
    this.gpuBuffer = buffer;
    engine.track(this);
  }

  /** The underlying buffer; throws if the tensor was disposed. */
  get buffer(): GPUBuffer {
    if (!this.gpuBuffer) throw new DisposedError(`tensor [${this.shape.join(', ')}] was used after dispose()`);
    return this.gpuBuffer;
  }

  get disposed(): boolean {
    return !this.gpuBuffer;
  }

  /** Submits the work recorded so far and copies this tensor's values back (Float32Array for f32, Uint32Array/Int32Array for the integer types). */
  async read(): Promise<TypedArrayOf<D>> {
    const bytes = await this.engine.readBytes(this.buffer, this.size * 4);
    return new ARRAY_OF[this.dtype](bytes) as TypedArrayOf<D>;
  }

  /** Frees the tensor; its buffer goes back to the engine's pool for later results of its size. */
  dispose(): void {
    if (!this.gpuBuffer) return;
    this.engine.recycle(this.gpuBuffer);
    this.gpuBuffer = undefined;
  }

  /** Disposes the tensor at the end of a `using` block. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    return `Tensor<${this.dtype}>[${this.shape.join(', ')}]`;
  }
}

function checkShape(op: string, shape: readonly number[]): void {
  if (!shape.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new ShapeError(`${op}: shape [${shape.join(', ')}] must be positive integers`);
  }
}

const label = (shape: readonly number[]) => `tensor[${shape.join(',')}]`;

/** Uploads `data` (numbers or a typed array) as a tensor of `shape`. */
export function tensor<D extends DType = 'f32'>(
  engine: Engine,
  data: ArrayLike<number>,
  shape: readonly number[],
  dtype: D = 'f32' as D,
): Tensor<D> {
  checkShape('tensor', shape);
  const n = product(shape);
  if (data.length !== n) {
    throw new ShapeError(`tensor: ${data.length} values given for shape [${shape.join(', ')}], which holds ${n}`);
  }
  const array = data instanceof ARRAY_OF[dtype] ? (data as TypedArrayOf<D>) : new ARRAY_OF[dtype](Array.from(data));
  const buffer = engine.createOutput(n * 4, label(shape), true);
  engine.upload(buffer, array);
  return new Tensor(engine, [...shape], dtype, buffer);
}

/** A tensor of zeros (WebGPU zero-initialises new buffers, so this one is never a pooled buffer). */
export function zeros<D extends DType = 'f32'>(engine: Engine, shape: readonly number[], dtype: D = 'f32' as D): Tensor<D> {
  checkShape('zeros', shape);
  const buffer = engine.createStorage(product(shape) * 4, label(shape));
  return new Tensor(engine, [...shape], dtype, buffer);
}

function engineOf(op: string, inputs: readonly Tensor[]): Engine {
  const engine = inputs[0]?.engine;
  if (!engine) throw new ShapeError(`${op}: needs at least one input tensor`);
  for (const t of inputs) {
    if (t.engine !== engine) throw new ShapeError(`${op}: ${t} belongs to another engine; make every operand on the same engine`);
  }
  return engine;
}

function record(engine: Engine, key: string, build: () => KernelProgram | Promise<KernelProgram>, inputs: readonly Tensor[], outputs: readonly TensorType[]): Tensor[] {
  const buffers = engine.createOutputs(key, outputs.map((o) => product(o.shape) * 4), `${key.split('|')[0]} output`);
  const made = outputs.map((o, i) => new Tensor(engine, [...o.shape], o.dtype, buffers[i]));
  try {
    engine.record(key, build, [...inputs.map((t) => t.buffer), ...made.map((t) => t.buffer)]);
  } catch (e) {
    for (const t of made) t.dispose();
    throw e;
  }
  return made;
}

/**
 * Runs graph op `op` eagerly as a one-node plan: the op's rule checks the shapes (and names the
 * fix), the plan is lowered once per (op, shapes, dtypes, attributes) by the same rule compileStep
 * uses, and each call records it at once and returns its outputs. `where` names the call in
 * errors when it is not the op itself (an eager `add` that runs bias_add).
 */
export function runOp<K extends OpKind>(op: K, inputs: readonly Tensor[], attrs: OpAttrs[K], where: string = op): Tensor[] {
  const engine = engineOf(op, inputs);
  const types = inferOne(op, inputs, attrs, where);
  return record(engine, oneNodeKey(op, inputs, attrs), () => lowerOne(engine, op, attrs, inputs, types), inputs, types);
}

export interface OutputSpec {
  shape: readonly number[];
  dtype?: DType;
}

/**
 * For eager functions with no graph op (backward helpers, reductions of another kind): allocates
 * the outputs and records `spec` (one kernel or a program) over [...inputs, ...outputs] through
 * the same recorder as `runOp`, keyed by the program itself.
 */
export function launch(spec: KernelSpec | KernelProgram, inputs: readonly Tensor[], outputs: readonly OutputSpec[]): Tensor[] {
  const program = 'launches' in spec ? spec : singleLaunch(spec);
  const engine = engineOf(program.name, inputs);
  const types = outputs.map((o) => ({ shape: o.shape, dtype: o.dtype ?? 'f32' }));
  return record(engine, programKey(program), () => program, inputs, types);
}
