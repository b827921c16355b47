import { binaryShader, scaleShader, whereShader, type BinaryOp } from '../../shaders/elementwise.js';
import { ShapeError } from '../gpu/errors.js';
import { dispatch1D, product } from './geometry.js';
import { UniformWriter, type KernelProgram, type KernelSpec } from './kernel.js';
import { appendReduceToMiddle, ProgramBuilder } from './reduce.js';

export type { BinaryOp };

const WG = 256;

/** How the second operand b broadcasts over a: a as [outer, mid, inner], b as [mid]. */
export interface BroadcastLayout {
  outer: number;
  mid: number;
  inner: number;
}

/**
 * The layout of b broadcast over a. By default shapes align at the right, as in NumPy and PyTorch
 * ([C] over [N, C]; [C, 1, 1] over [N, C, H, W]); `axis` instead aligns b's first dimension with
 * a's dimension `axis` ([C] at axis 1 of [N, C, H, W]). Outside that block b's dimensions must be
 * 1, and inside it they must equal a's: b may repeat along leading and trailing dimensions of a.
 */
export function broadcastLayout(op: string, a: readonly number[], b: readonly number[], axis?: number): BroadcastLayout {
  const shapes = `A [${a.join(', ')}] and B [${b.join(', ')}]`;
  const offset = axis === undefined ? a.length - b.length : axis < 0 ? axis + a.length : axis;
  if (!Number.isInteger(offset) || offset < 0 || offset + b.length > a.length) {
    const where = axis === undefined ? 'B has more dimensions than A' : `B does not fit in A from axis ${axis}`;
    throw new ShapeError(`${op}: ${shapes}: ${where}; give B dimensions that align with A's (trailing ones, or from an axis)`);
  }
  const kept = b.map((d, k) => (d === 1 ? -1 : k)).filter((k) => k >= 0);
  if (kept.length === 0) return { outer: product(a), mid: 1, inner: 1 };
  const first = kept[0];
  const last = kept[kept.length - 1];
  for (let k = first; k <= last; k++) {
    if (b[k] !== a[offset + k]) {
      throw new ShapeError(
        `${op}: ${shapes}: B's dimension ${k} (${b[k]}) does not match A's dimension ${offset + k} (${a[offset + k]}); ` +
          'B may only repeat along leading and trailing dimensions of A (reshape B, or pass the axis it aligns with)',
      );
    }
  }
  return {
    outer: product(a.slice(0, offset + first)),
    mid: product(b.slice(first, last + 1)),
    inner: product(a.slice(offset + last + 1)),
  };
}

/** y = a (op) b with b broadcast as `layout`. Bindings: a, b, y. */
export function binaryForward(op: BinaryOp, layout: BroadcastLayout): KernelSpec {
  const n = layout.outer * layout.mid * layout.inner;
  return {
    name: op,
    code: binaryShader(op),
    entryPoint: 'main',
    constants: { WG },
    bindings: ['read', 'read', 'write', 'uniform'],
    workgroups: dispatch1D(n, WG),
    uniforms: new UniformWriter().u32(n, layout.mid, layout.inner).finish(),
  };
}

/** y = x * s + t over n elements. Bindings: x, y. */
export function scaleSpec(n: number, s: number, t = 0): KernelSpec {
  return {
    name: 'scale',
    code: scaleShader(),
    entryPoint: 'main',
    constants: { WG },
    bindings: ['read', 'write', 'uniform'],
    workgroups: dispatch1D(n, WG),
    uniforms: new UniformWriter().u32(n).f32(s, t).finish(),
  };
}

/**
 * Gradients of y = a (op) b, b broadcast as `layout`. db sums dy (times a, for mul) over the
 * dimensions b was repeated along, by the deterministic reductions.
 *   add: da = dy,     db = sum dy
 *   sub: da = dy,     db = -sum dy
 *   mul: da = dy * b, db = sum dy * a
 * io: add/sub: dy, da, db; mul: dy, a, b, da, db.
 */
export function binaryBackwardProgram(op: BinaryOp, layout: BroadcastLayout): KernelProgram {
  const { outer, mid, inner } = layout;
  const n = outer * mid * inner;
  const pb = new ProgramBuilder(`${op}_backward`);
  if (op === 'mul') {
    pb.add(binaryForward('mul', layout), [{ io: 0 }, { io: 2 }, { io: 3 }]);
    const dyA = pb.temp(n);
    pb.add(binaryForward('mul', { outer: 1, mid: n, inner: 1 }), [{ io: 0 }, { io: 1 }, dyA]);
    appendReduceToMiddle(pb, dyA, { io: 4 }, outer, mid, inner);
  } else {
    pb.add(scaleSpec(n, 1), [{ io: 0 }, { io: 1 }]);
    appendReduceToMiddle(pb, { io: 0 }, { io: 2 }, outer, mid, inner, op === 'sub' ? -1 : 1);
  }
  return pb.build();
}

/** where(cond, a, b). Bindings: cond (u32 or f32 mask), a, b, y. */
export function whereForward(n: number, cond: 'u32' | 'f32'): KernelSpec {
  return whereSpec(n, cond, 'forward');
}

/** da = cond ? dy : 0, db = cond ? 0 : dy. Bindings: cond, dy, da, db. */
export function whereBackward(n: number, cond: 'u32' | 'f32'): KernelSpec {
  return whereSpec(n, cond, 'backward');
}

function whereSpec(n: number, cond: 'u32' | 'f32', direction: 'forward' | 'backward'): KernelSpec {
  return {
    name: direction === 'forward' ? 'where' : 'where_backward',
    code: whereShader(cond, direction),
    entryPoint: 'main',
    constants: { WG },
    bindings: direction === 'forward' ? ['read', 'read', 'read', 'write', 'uniform'] : ['read', 'read', 'write', 'write', 'uniform'],
    workgroups: dispatch1D(n, WG),
    uniforms: new UniformWriter().u32(n).finish(),
  };
}
