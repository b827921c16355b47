/**
 * The double-buffered workgroup tile loop shared by the GEMM-shaped kernels (matmul, the conv
 * implicit GEMM and its weight gradient): each operand X has two tiles `Xs[0..TILE_X)` and
 * `Xs[TILE_X..2·TILE_X)`; while the workgroup multiplies from one, it fills the other with the
 * next reduction step, so one barrier per step separates the writes from the reads and the next
 * step's global loads are issued before this step's arithmetic. The kernel declares BK and
 * TILE_{X} for both operands; these helpers declare the tiles and emit the loop around the
 * kernel's own fill and multiply code.
 */

/** The two operand letters, e.g. ['A', 'B']: tiles `As`/`Bs`, sizes `TILE_A`/`TILE_B`. */
export type OperandLetters = readonly [string, string];

/** Declarations of both operands' pairs of tiles (after TILE_{X} and TILE_{Y}). */
export function doubleBufferedTilesWGSL([a, b]: OperandLetters): string {
  return `// Two tiles per operand, filled and read in turn.
override TILES_${a}: u32 = 2u * TILE_${a};
override TILES_${b}: u32 = 2u * TILE_${b};
var<workgroup> ${a}s: array<vec4f, TILES_${a}>;
var<workgroup> ${b}s: array<vec4f, TILES_${b}>;`;
}

export interface DoubleBufferedLoop {
  operands: OperandLetters;
  /** Names the loop gives the current tiles' offsets, read by `step`. */
  offsets: readonly [string, string];
  /** u32 WGSL expressions: the first reduction index, the end, and the step after k0. */
  begin: string;
  end: string;
  next: string;
  /**
   * WGSL filling both operands' tiles with the step at `k`, at offsets `offA` and `offB`; `indent`
   * is the indentation of the place it goes (the prologue's, then the loop body's).
   */
  fill: (k: string, offA: string, offB: string, indent: string) => string;
  /** WGSL multiplying the current tiles into the accumulators. */
  step: string;
}

/** The first fill, then the loop: each step fills the other tiles and multiplies these. */
export function doubleBufferedLoopWGSL(l: DoubleBufferedLoop): string {
  const [a, b] = l.operands;
  const [offA, offB] = l.offsets;
  return `${l.fill(l.begin, '0u', '0u', '  ')}
  workgroupBarrier();
  var cur = 0u;
  for (var k0 = ${l.begin}; k0 < ${l.end}; k0 += BK) {
    let ${offA} = cur * TILE_${a};
    let ${offB} = cur * TILE_${b};
    // The other tiles were last read before the previous step's barrier: safe to overwrite.
    if (k0 + BK < ${l.end}) {
${l.fill(l.next, `(1u - cur) * TILE_${a}`, `(1u - cur) * TILE_${b}`, '      ')}
    }
${l.step}
    workgroupBarrier();
    cur = 1u - cur;
  }`;
}
