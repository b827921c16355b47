import { broadcastAxisShader, LOAD_IDENTITY, reduceColumnsShader, type ReduceLoad } from '../../shaders/reduce.js';
import { ShapeError } from '../gpu/errors.js';
import { dispatch1D, product } from './geometry.js';
import { UniformWriter, type ArgRef, type KernelProgram, type KernelSpec } from './kernel.js';

const WG = 256;
/**
 * Values one invocation sums per level of the global sum: enough to amortise a launch, few enough
 * that the first level still has n / 64 invocations to spread over the device.
 */
const SUM_ALL_PER_INVOCATION = 64;
/** Below this many outputs a reduction splits its rows into chunks to keep enough invocations busy. */
const COLUMN_PARALLELISM = 8192;
/**
 * Rows per chunk at least: shorter chunks cost more in the extra launch than they save. A bias
 * gradient over a batch of a few hundred rows stays one launch.
 */
const MIN_CHUNK = 256;

/**
 * Collects the launches and scratch buffers of a multi-launch op, so that families can chain their
 * kernels with the reductions below into one KernelProgram.
 */
export class ProgramBuilder {
  private readonly scratch: number[] = [];
  private readonly launches: KernelProgram['launches'] = [];

  constructor(readonly name: string) {}

  /** A new scratch buffer of `floats` f32 values. */
  temp(floats: number): ArgRef {
    this.scratch.push(Math.max(1, floats) * 4);
    return { scratch: this.scratch.length - 1 };
  }

  add(spec: KernelSpec, args: ArgRef[]): this {
    this.launches.push({ spec, args });
    return this;
  }

  build(): KernelProgram {
    return { name: this.name, scratch: [...this.scratch], launches: [...this.launches] };
  }
}

/**
 * One launch of the column reduction of [outer, len, inner] (flat indices >= n skipped) in chunks
 * of `chunk` rows. Bindings: the load's inputs, out [chunks, outer, inner].
 */
export function reduceColumnsSpec(
  outer: number,
  len: number,
  inner: number,
  chunk: number,
  scale: number,
  load: ReduceLoad = LOAD_IDENTITY,
  n = outer * len * inner,
): KernelSpec {
  const chunks = Math.ceil(len / chunk);
  return {
    name: `reduce_${load.name}`,
    code: reduceColumnsShader(load),
    entryPoint: 'main',
    constants: { WG },
    bindings: [...load.inputs.map(() => 'read' as const), 'write', 'uniform'],
    workgroups: dispatch1D(outer * inner * chunks, WG),
    uniforms: new UniformWriter().u32(outer, len, inner, chunk, chunks, n).f32(scale).finish(),
  };
}

/**
 * Appends launches computing dst = scale * sum(load(i), i < n) as a fixed-order tree: each level
 * views its input as a ragged [len, width] grid (width = n / 64) and sums each column, so
 * neighbouring invocations read neighbouring values, until one value is left. The order depends
 * only on n, so the result is the same bit for bit on every run.
 */
export function appendSumAll(pb: ProgramBuilder, src: ArgRef[], dst: ArgRef, n: number, scale = 1, load: ReduceLoad = LOAD_IDENTITY): void {
  let count = n;
  let from = src;
  let first = true;
  for (;;) {
    const width = Math.ceil(count / SUM_ALL_PER_INVOCATION);
    const len = Math.ceil(count / width);
    const last = width === 1;
    const to = last ? dst : pb.temp(width);
    pb.add(reduceColumnsSpec(1, len, width, len, last ? scale : 1, first ? load : LOAD_IDENTITY, count), [...from, to]);
    if (last) return;
    from = [to];
    count = width;
    first = false;
  }
}

/**
 * Appends launches computing dst[o][i] = scale * sum_r src[o][r][i] for src viewed as
 * [outer, len, inner]: one invocation per output, the rows split into chunks when there are too
 * few outputs to fill the device, the chunk partials then reduced again the same way.
 */
export function appendReduceAxis(pb: ProgramBuilder, src: ArgRef, dst: ArgRef, outer: number, len: number, inner: number, scale = 1): void {
  const outputs = outer * inner;
  const chunks = outputs >= COLUMN_PARALLELISM ? 1 : Math.min(Math.ceil(len / MIN_CHUNK), Math.ceil(COLUMN_PARALLELISM / outputs));
  const chunk = Math.ceil(len / chunks);
  const used = Math.ceil(len / chunk);
  if (used === 1) {
    pb.add(reduceColumnsSpec(outer, len, inner, len, scale), [src, dst]);
    return;
  }
  const partial = pb.temp(used * outputs);
  pb.add(reduceColumnsSpec(outer, len, inner, chunk, 1), [src, partial]);
  // partial is [used, outer * inner]: the chunk index is now the reduced axis.
  appendReduceAxis(pb, partial, dst, 1, used, outputs, scale);
}

/** Normalises a possibly negative axis of `shape`, or throws naming the op. */
export function normalizeAxis(op: string, shape: readonly number[], axis: number): number {
  const a = axis < 0 ? axis + shape.length : axis;
  if (!Number.isInteger(axis) || a < 0 || a >= shape.length) {
    throw new ShapeError(`${op}: axis ${axis} is out of range for shape [${shape.join(', ')}]; use an axis in [${-shape.length}, ${shape.length - 1}]`);
  }
  return a;
}

export interface AxisReduction {
  program: KernelProgram;
  /** Output shape: the input shape without `axis` ([1] when nothing is left). */
  shape: number[];
}

/** sum or mean of x along `axis`. io: x, out. */
export function reduceAxisProgram(op: 'sum' | 'mean', shape: readonly number[], axis: number): AxisReduction {
  const a = normalizeAxis(op, shape, axis);
  const outer = product(shape.slice(0, a));
  const len = shape[a];
  const inner = product(shape.slice(a + 1));
  const pb = new ProgramBuilder(`${op}_axis${a}`);
  appendReduceAxis(pb, { io: 0 }, { io: 1 }, outer, len, inner, op === 'mean' ? 1 / len : 1);
  const out = shape.filter((_, i) => i !== a);
  return { program: pb.build(), shape: out.length ? out : [1] };
}

/** Deterministic sum (times `scale`) of all n elements. io: x, out [1]. */
export function sumAllProgram(n: number, scale = 1): KernelProgram {
  const pb = new ProgramBuilder('sum_all');
  appendSumAll(pb, [{ io: 0 }], { io: 1 }, n, scale);
  return pb.build();
}

/**
 * The gradient of an operand broadcast as [mid] over x viewed as [outer, mid, inner]:
 * out[m] = scale * sum_{o, i} src[o][m][i]. Sums `inner` away first (rows), then `outer` (columns).
 */
export function appendReduceToMiddle(pb: ProgramBuilder, src: ArgRef, dst: ArgRef, outer: number, mid: number, inner: number, scale = 1): void {
  if (inner === 1) {
    appendReduceAxis(pb, src, dst, 1, outer, mid, scale);
    return;
  }
  if (outer === 1) {
    appendReduceAxis(pb, src, dst, mid, inner, 1, scale);
    return;
  }
  const rows = pb.temp(outer * mid);
  appendReduceAxis(pb, src, rows, outer * mid, inner, 1, 1);
  appendReduceAxis(pb, rows, dst, 1, outer, mid, scale);
}

/** dx [outer, len, inner] = scale * dy [outer, inner] broadcast along len. Bindings: dy, dx. */
export function broadcastAxisSpec(outer: number, len: number, inner: number, scale = 1): KernelSpec {
  const n = outer * len * inner;
  return {
    name: 'broadcast_axis',
    code: broadcastAxisShader(),
    entryPoint: 'main',
    constants: { WG },
    bindings: ['read', 'write', 'uniform'],
    workgroups: dispatch1D(n, WG),
    uniforms: new UniformWriter().u32(n, len, inner).f32(scale).finish(),
  };
}

/**
 * Backward of sum / mean along `axis` of an input of `shape`: dx = dy broadcast along the axis
 * (times 1/len for a mean). io: dy (shape without the axis), dx (shape).
 */
export function reduceAxisBackward(op: 'sum' | 'mean', shape: readonly number[], axis: number, dyShape: readonly number[]): KernelSpec {
  const a = normalizeAxis(`${op} backward`, shape, axis);
  const expected = shape.filter((_, i) => i !== a);
  const want = expected.length ? expected : [1];
  if (dyShape.length !== want.length || dyShape.some((d, i) => d !== want[i])) {
    throw new ShapeError(
      `${op} backward: dy [${dyShape.join(', ')}] does not match input [${shape.join(', ')}] reduced along axis ${a}; expected dy [${want.join(', ')}]`,
    );
  }
  const len = shape[a];
  const spec = broadcastAxisSpec(product(shape.slice(0, a)), len, product(shape.slice(a + 1)), op === 'mean' ? 1 / len : 1);
  return { ...spec, name: `${op}_backward` };
}
