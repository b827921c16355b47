import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { activationWGSL, type Activation } from './lib/activations.js';
import { convGemmBindingsWGSL, convGemmParamsWGSL } from './lib/conv_gemm_io.js';

/**
 * Convolution as an implicit GEMM, in the NCHW layout: dst[n, m, oy, ox] = sum over (c, kh, kw) of
 * weight(m, c, kh, kw) * src[n, c, y, x], where (y, x) is found from (oy, ox) by one of two gathers:
 *
 * - 'forward'    (conv2d forward; conv_transpose2d backward-data):
 *                y = oy*stride - pad + kh*dil
 * - 'transposed' (conv2d backward-data; conv_transpose2d forward):
 *                y = (oy + pad - kh*dil) / stride, only where the division is exact
 *
 * The weight is read as w[m*w_stride_out + c*w_stride_red + kh*KW + kw], so one kernel serves
 * PyTorch's [Cout, Cin, KH, KW] conv weight in both directions and the [Cin, Cout, KH, KW]
 * transposed-conv weight, by the strides alone. No im2col matrix is ever stored.
 */
export type ConvGather = 'forward' | 'transposed';

export interface ConvGemmShaderOptions {
  gather: ConvGather;
  kernel: [number, number];
  /** Some (y, x) may fall outside src: padding, or any transposed gather. */
  checked: boolean;
  /** Transposed gather with stride > 1 must test divisibility. */
  strided: boolean;
  bias: boolean;
  activation: Activation;
}

/**
 * WGSL statements that read src at the (y, x) of one output position `j` and tap (kh, kw), into
 * `v${j}`. `by${j}`/`bx${j}` hold the position's tap-independent offsets and `sc${j}` its channel
 * base; kh and kw are literals when unrolled or loop variables otherwise.
 */
export class ConvGatherEmitter {
  constructor(private readonly o: Pick<ConvGemmShaderOptions, 'gather' | 'checked' | 'strided'>) {}

  /**
   * Position j of a kernel, flat output position q (clamped: tails are computed, never stored):
   * its batch `n${j}`, in-plane offset `r${j}`, gather offsets and src batch base `sb${j}`.
   */
  position(j: number, q: string): string {
    return `let q${j} = min(${q}, params.positions - 1);
  let n${j} = q${j} / dhw; let r${j} = q${j} % dhw;
  ${this.base(j, `r${j} / params.dst_w`, `r${j} % params.dst_w`)}
  let sb${j} = n${j} * params.c * shw;`;
  }

  /** Statements reading src at channel `c`, tap (`kh`, `kw`), into `v${j}` for each position j. */
  gather(positions: readonly number[]): string[] {
    return [
      ...positions.map((j) => `let sc${j} = sb${j} + c * shw;`),
      ...positions.map((j) => this.row(j, 'kh')),
      ...positions.map((j) => this.value(j, 'kw')),
    ];
  }

  /** Per position: offsets that depend only on (oy, ox). */
  base(j: number, oy: string, ox: string): string {
    if (this.o.gather === 'forward') {
      return `let by${j} = ${oy} * params.stride_h - params.pad_h; let bx${j} = ${ox} * params.stride_w - params.pad_w;`;
    }
    return `let by${j} = ${oy} + params.pad_h; let bx${j} = ${ox} + params.pad_w;`;
  }

  /** Per tap row kh: the row start `row${j}` and, when checked, its validity `ry${j}`. */
  row(j: number, kh: string): string {
    const { axis, ok } = this.coordinate('h', `by${j}`, kh, `y${j}`);
    return `${axis} let row${j} = sc${j} + y${j} * params.src_w;${ok ? ` let ry${j} = ${ok};` : ''}`;
  }

  /** Per tap (kh, kw): the value `v${j}` (0 outside src). */
  value(j: number, kw: string): string {
    const { axis, ok } = this.coordinate('w', `bx${j}`, kw, `x${j}`);
    if (!ok) return `${axis} let v${j} = src[u32(row${j} + x${j})];`;
    return `${axis} let ok${j} = ry${j} & (${ok}); let v${j} = select(0.0, src[u32(select(0, row${j} + x${j}, ok${j}))], ok${j});`;
  }

  /**
   * Per position and literal tap column kw: `x${j}_${kw}` and, when checked, its validity
   * `cx${j}_${kw}`. They depend on neither the channel nor kh, so kernels with unrolled columns
   * compute them once, outside the channel loop, and read values with `valueAt`.
   */
  column(j: number, kw: number): string {
    const { axis, ok } = this.coordinate('w', `bx${j}`, `${kw}`, `x${j}_${kw}`);
    return ok ? `${axis} let cx${j}_${kw} = ${ok};` : axis;
  }

  /** As `value`, from the hoisted column of `column(j, kw)`. */
  valueAt(j: number, kw: number): string {
    const x = `x${j}_${kw}`;
    if (!this.checksColumns) return `let v${j} = src[u32(row${j} + ${x})];`;
    return `let ok${j} = ry${j} & cx${j}_${kw}; let v${j} = select(0.0, src[u32(select(0, row${j} + ${x}, ok${j}))], ok${j});`;
  }

  private get checksColumns(): boolean {
    return this.o.gather === 'transposed' || this.o.checked;
  }

  // Bounds tests are `u32(y) < u32(size)`: the wrap-around of negative y folds `y >= 0` into one
  // compare, and `&` instead of `&&` keeps them branch-free (short-circuit branches make SwiftShader's
  // compile time explode on unrolled kernels). A negative t = y*stride never divides exactly
  // with y >= 0, so strided gathers need no separate sign test.
  private coordinate(dim: 'h' | 'w', base: string, k: string, name: string): { axis: string; ok?: string } {
    const size = `params.src_${dim}`;
    if (this.o.gather === 'forward') {
      const axis = `let ${name} = ${base} + ${k} * params.dil_${dim};`;
      return { axis, ok: this.o.checked ? `u32(${name}) < u32(${size})` : undefined };
    }
    if (!this.o.strided) {
      return { axis: `let ${name} = ${base} - ${k} * params.dil_${dim};`, ok: `u32(${name}) < u32(${size})` };
    }
    const t = `t${name}`;
    return {
      axis: `let ${t} = ${base} - ${k} * params.dil_${dim}; let ${name} = ${t} / params.stride_${dim};`,
      ok: `(${name} * params.stride_${dim} == ${t}) & (u32(${name}) < u32(${size}))`,
    };
  }
}

/** Kernel taps are unrolled up to this many; larger kernels loop over kh at run time. */
const MAX_UNROLLED_TAPS = 16;

/** Emits `body(kh, kw)` for every tap, unrolled in the generated WGSL where small enough. */
export function forEachTap(
  kernel: [number, number],
  rowStage: (kh: string) => string,
  body: (kh: string, kw: string, tap: string) => string,
): string {
  const [KH, KW] = kernel;
  const unrollRows = KH * KW <= MAX_UNROLLED_TAPS;
  const columns = (kh: string) => {
    const lines: string[] = [];
    for (let kw = 0; kw < KW; kw++) {
      const tap = unrollRows ? `${Number(kh) * KW + kw}` : `kh * ${KW} + ${kw}`;
      lines.push(`{\n${body(kh, `${kw}`, tap)}\n}`);
    }
    return lines.join('\n');
  };
  if (unrollRows) {
    const lines: string[] = [];
    for (let kh = 0; kh < KH; kh++) lines.push(`{\n${rowStage(`${kh}`)}\n${columns(`${kh}`)}\n}`);
    return lines.join('\n');
  }
  return `for (var kh = 0; kh < ${KH}; kh++) {\n${rowStage('kh')}\n${columns('kh')}\n}`;
}

/**
 * Register-blocked implicit GEMM without workgroup memory (fast on CPU adapters, see
 * SWIFTSHADER-NOTES.md): each invocation owns `4*groups` consecutive output channels times
 * `positions` flat output positions (n, oy, ox) WG_X apart, in named vec4 accumulators
 * (`acc{g}_{j}`, lanes = channels), with the tap loop unrolled (up to MAX_UNROLLED_TAPS taps; larger
 * kernels keep a run-time kh loop).
 */
export function convGemmDirectShader(o: ConvGemmShaderOptions, groups: number, positions: number): string {
  const g = new ConvGatherEmitter(o);
  const G = [...Array(groups).keys()];
  const J = [...Array(positions).keys()];
  const lanes = [0, 1, 2, 3];

  const setup = J.map((j) => g.position(j, `p0 + ${j} * wg_x`)).join('\n  ');
  const weightBases = G.flatMap((gi) =>
    lanes.map((i) => `let wb${gi}_${i} = min(m0 + ${gi * 4 + i}, params.m - 1) * params.w_stride_out;`),
  ).join('\n  ');
  const columns = J.flatMap((j) => [...Array(o.kernel[1]).keys()].map((kw) => g.column(j, kw))).join('\n  ');
  const accumulators = G.flatMap((gi) => J.map((j) => `var acc${gi}_${j} = vec4f(0.0);`)).join('\n  ');
  const channelStage = [
    ...J.map((j) => `let sc${j} = sb${j} + c * shw;`),
    ...G.flatMap((gi) => lanes.map((i) => `let wc${gi}_${i} = wb${gi}_${i} + c * params.w_stride_red;`)),
  ].join('\n    ');
  const taps = forEachTap(
    o.kernel,
    (kh) => J.map((j) => g.row(j, kh)).join('\n'),
    (_kh, kw, tap) =>
      [
        ...J.map((j) => g.valueAt(j, Number(kw))),
        ...G.map((gi) => `let w${gi} = vec4f(${lanes.map((i) => `weight[wc${gi}_${i} + ${tap}]`).join(', ')});`),
        ...G.flatMap((gi) => J.map((j) => `acc${gi}_${j} = fma(w${gi}, vec4f(v${j}), acc${gi}_${j});`)),
      ].join('\n'),
  );
  const stores = J.map((j) => {
    const channelStores = G.flatMap((gi) =>
      lanes.map((i) => {
        const m = `m0 + ${gi * 4 + i}`;
        const value = o.bias ? `acc${gi}_${j}[${i}] + bias[${m}]` : `acc${gi}_${j}[${i}]`;
        return `if (${m} < params.m) { dst[u32(ob${j} + (${m}) * dhw)] = activate(${value}); }`;
      }),
    ).join('\n    ');
    return `if (p0 + ${j} * wg_x < params.positions) {
    let ob${j} = n${j} * params.m * dhw + r${j};
    ${channelStores}
  }`;
  }).join('\n  ');

  return wgsl`
${activationWGSL(o.activation)}
${convGemmParamsWGSL}

${convGemmBindingsWGSL(o.bias)}

override WG_X: u32 = 16;
override WG_Y: u32 = 4;

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  // Positions p0 + j*WG_X: neighbouring invocations take neighbouring positions, so their loads of
  // src and stores of dst hit consecutive addresses (coalesced on GPUs; one vector access instead of
  // a gather across SwiftShader's SIMD lanes).
  let wg_x = i32(WG_X);
  let p0 = i32(wid.x) * wg_x * ${positions} + i32(lid.x);
  let m0 = i32(gid.y) * ${groups * 4};
  if (p0 >= params.positions || m0 >= params.m) { return; }
  let dhw = params.dst_h * params.dst_w;
  let shw = params.src_h * params.src_w;
  // Tail positions and channels are clamped to valid ones: computed, never stored.
  ${setup}
  ${weightBases}
  ${columns}
  ${accumulators}
  for (var c = 0; c < params.c; c++) {
    ${channelStage}
${taps}
  }
  ${stores}
}
`;
}
