import type { Engine } from '../gpu/engine.js';
import { DisposedError, ShapeError } from '../gpu/errors.js';
import { product } from '../kernels/geometry.js';
import { singleLaunch, type KernelProgram, type KernelSpec } from '../kernels/kernel.js';

export type DType = 'f32' | 'i32' | 'u32';
export type TypedArrayOf<D extends DType> = D extends 'f32' ? Float32Array : D extends 'i32' ? Int32Array : Uint32Array;

const ARRAY_OF = { f32: Float32Array, i32: Int32Array, u32: Uint32Array } as const;

/**
 * A GPU-resident array owned by the caller: it holds one buffer until dispose(). Eager ops record
 * work without waiting; `read()` submits and copies back.
 */
export class Tensor<D extends DType = DType> {
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
  }

  /** The underlying buffer; throws if the tensor was disposed. */
  get buffer(): GPUBuffer {
    if (!this.gpuBuffer) throw new DisposedError(`tensor [${this.shape.join(', ')}] was used after dispose()`);
    return this.gpuBuffer;
  }

  get disposed(): boolean {
    return !this.gpuBuffer;
  }

  async read(): Promise<TypedArrayOf<D>> {
    const bytes = await this.engine.readBytes(this.buffer, this.size * 4);
    return new ARRAY_OF[this.dtype](bytes) as TypedArrayOf<D>;
  }

  dispose(): void {
    if (!this.gpuBuffer) return;
    this.engine.release(this.gpuBuffer);
    this.gpuBuffer = undefined;
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
  const buffer = engine.createStorage(n * 4, `tensor[${shape.join(',')}]`);
  engine.upload(buffer, array);
  return new Tensor(engine, [...shape], dtype, buffer);
}

/** A tensor of zeros (WebGPU zero-initialises new buffers). */
export function zeros<D extends DType = 'f32'>(engine: Engine, shape: readonly number[], dtype: D = 'f32' as D): Tensor<D> {
  checkShape('zeros', shape);
  const buffer = engine.createStorage(product(shape) * 4, `tensor[${shape.join(',')}]`);
  return new Tensor(engine, [...shape], dtype, buffer);
}

export interface OutputSpec {
  shape: readonly number[];
  dtype?: DType;
}

/**
 * Allocates the outputs, records `spec` (a single kernel or a multi-launch program) with buffers
 * [...inputs, ...outputs], and returns the outputs.
 */
export function launch(spec: KernelSpec | KernelProgram, inputs: readonly Tensor[], outputs: readonly OutputSpec[]): Tensor[] {
  const program = 'launches' in spec ? spec : singleLaunch(spec);
  const engine = inputs[0]?.engine;
  if (!engine) throw new Error(`${program.name}: launch needs at least one input tensor`);
  const made = outputs.map((o) => zeros(engine, o.shape, o.dtype ?? 'f32'));
  try {
    engine.dispatchProgram(program, [...inputs.map((t) => t.buffer), ...made.map((t) => t.buffer)]);
  } catch (e) {
    for (const t of made) t.dispose();
    throw e;
  }
  return made;
}
