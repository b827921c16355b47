import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';

/**
 * Shared by the forward and backward attention kernels: the packed layout and head-row code.
 *
 * qkv is [B, T, 3·E] with E = H·DH, exactly a fused `qkv` Linear's output (torch layout: q, k, v
 * stacked along the features, head h at columns h·DH … h·DH + DH − 1 of each), so no kernel splits
 * or transposes heads. y and dy are [B, T, E], ready for the `proj` Linear; lse and D are [B, H, T].
 *
 * A head row is DV = ⌈DH/4⌉ vec4 chunks, zero past DH, held in named registers (q0, q1, …) with
 * every loop over a row unrolled here, when the WGSL is generated: on CPU adapters an array indexed
 * in a loop lives in memory, per lane, which made the forward about twice as slow (SwiftShader,
 * T = 256). With DH a multiple of 4 the row tensors are bound as vec4 arrays.
 *
 * Two variants. Staged: a workgroup of ROWS rows stages TILE rows of the other operand at a time
 * in workgroup memory and all its rows reuse them (what GPUs reward). Direct: each invocation reads
 * the other rows from storage, with no barrier (on CPU adapters workgroup memory is ordinary
 * memory and barriers cost more than they save). In both an invocation may own RQ consecutive
 * rows, reading each row of the other operand once for all of them. ROWS and TILE are overrides;
 * DH and RQ are consts, since they decide the unrolled code.
 */
export class HeadRows {
  readonly dv: number;
  /** Row tensors bound as array<vec4f>: every row starts at a multiple of 4 floats. */
  readonly vec: boolean;

  constructor(readonly dh: number) {
    this.dv = Math.ceil(dh / 4);
    this.vec = dh % 4 === 0;
  }

  get elem(): string {
    return this.vec ? 'vec4f' : 'f32';
  }

  /** `line(c)` for each chunk c, one per line. */
  each(line: (c: number) => string, indent = '  '): string {
    return Array.from({ length: this.dv }, (_, c) => line(c)).join(`\n${indent}`);
  }

  /** Σ_c dot(a(c), b(c)): a row's dot product. */
  dot(a: (c: number) => string, b: (c: number) => string): string {
    return Array.from({ length: this.dv }, (_, c) => `dot(${a(c)}, ${b(c)})`).join(' + ');
  }

  /** WGSL expression: chunk c of the row at flat float index `base` of `arr`, zero past DH. */
  load(arr: string, base: string, c: number): string {
    if (this.vec) return `${arr}[${base} / 4u + ${c}u]`;
    const lanes = [0, 1, 2, 3].map((k) => (4 * c + k < this.dh ? `${arr}[${base} + ${4 * c + k}u]` : '0.0'));
    return `vec4f(${lanes.join(', ')})`;
  }

  /** WGSL statement: the lanes of chunk c below DH, from vec4 expression `v`, into `arr`. */
  store(arr: string, base: string, c: number, v: string): string {
    if (this.vec) return `${arr}[${base} / 4u + ${c}u] = ${v};`;
    const lanes = [0, 1, 2, 3].filter((k) => 4 * c + k < this.dh);
    return lanes.map((k) => `${arr}[${base} + ${4 * c + k}u] = (${v})[${k}];`).join(' ');
  }

  /** WGSL `fn load_<arr>(base, c)` for a chunk index known only at run time (tile staging). */
  loaderFn(arr: string): string {
    const body = this.vec
      ? `return ${arr}[base / 4u + c];`
      : `var r = vec4f(0.0);
  for (var k = 0u; k < min(4u, DH - 4u * c); k++) {
    r[k] = ${arr}[base + 4u * c + k];
  }
  return r;`;
    return `fn load_${arr}(base: u32, c: u32) -> vec4f {\n  ${body}\n}`;
  }
}

/** `line(k)` for each of the `block` rows an invocation owns, one per line. */
export function perRow(block: number, line: (k: number) => string, indent = '  '): string {
  return Array.from({ length: block }, (_, k) => line(k)).join(`\n${indent}`);
}

/** Constants, overrides, the uniform struct and the flat-index helpers every attention kernel uses. */
export function attentionPreludeWGSL(rows: HeadRows, staged: boolean, block: number): string {
  return wgsl`
const DH = ${rows.dh}u;
const DV = ${rows.dv}u;
// Rows owned per invocation.
const RQ = ${block}u;
override ROWS: u32 = 32;
#if ${staged}
override TILE: u32 = 32;
override TILE_VECS: u32 = TILE * DV;
#endif
struct Params { T: u32, H: u32, scale: f32 }

// Flat float index of element 0 of the q (part 0), k (1) or v (2) row of token t, head h, batch b.
fn qkv_at(b: u32, t: u32, h: u32, part: u32) -> u32 {
  let e = params.H * DH;
  return (b * params.T + t) * 3u * e + part * e + h * DH;
}

// Flat float index of element 0 of token t, head h in a [B, T, E] tensor (y, dy).
fn out_at(b: u32, t: u32, h: u32) -> u32 {
  return (b * params.T + t) * params.H * DH + h * DH;
}

// Flat index of a per-row statistic in [B, H, T] (lse, D).
fn stat_at(b: u32, h: u32, t: u32) -> u32 {
  return (b * params.H + h) * params.T + t;
}
`;
}
