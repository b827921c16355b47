import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { ConvDoubleBufferedBlock } from './conv2d_double_buffered.js';
import type { ConvFilterShaderOptions } from './conv2d_backward_filter.js';
import { doubleBufferedLoopWGSL, doubleBufferedTilesWGSL } from './lib/double_buffer.js';

/**
 * The weight gradient of shaders/conv2d_backward_filter.ts as a GEMM on a double-buffered
 * workgroup tile: dW[m, col] = Σ over r = (n, oy, ox) of grad[n, m, oy, ox] · src gathered forward
 * at (col = (c, kh, kw), oy, ox). A workgroup of WG_X × WG_Y invocations owns BM = WG_Y·TM rows m ×
 * BN = WG_X·TN columns, each invocation a TM×TN register block (TM consecutive rows, and TN columns
 * WG_X apart, so that neighbouring invocations read neighbouring rows of the src tile, with fewer
 * workgroup-memory bank conflicts, and store neighbouring columns); the reduction advances BK
 * values of r per step through two tiles per operand (one filled while the other is multiplied, one
 * barrier per step, as in shaders/conv2d_double_buffered.ts).
 *
 * Both tiles are vec4s along r, the axis along which grad and (at stride 1) src are contiguous:
 * row m of the grad tile holds grad[n, m, ·] at BK consecutive r, row col of the src tile the
 * gathered src there. The products are then dot products of the two operands' vec4s.
 *
 * The reduction N·OH·OW is long and dW small, so workgroup z sums only its chunk of r
 * [z·chunk, (z+1)·chunk) into its own slice of `partial` ([splits, m, cols]); a second launch adds
 * the slices (split-K). TM, TN and BK shape the generated code; the workgroup size is an override.
 */
export function convFilterDoubleBufferedShader(o: ConvFilterShaderOptions, block: ConvDoubleBufferedBlock): string {
  const { tm, tn, bk } = block;
  if (tm % 4 !== 0 || tn % 4 !== 0 || bk % 4 !== 0) {
    throw new Error(`conv weight-gradient double-buffered block ${tm}×${tn}, reduction step ${bk}: all must be multiples of 4`);
  }
  const E = [0, 1, 2, 3];
  const [KH, KW] = o.kernel;
  const rows = [...Array(tm).keys()];
  const cols = [...Array(tn).keys()];
  const quads = [...Array(tn / 4).keys()];

  // This invocation fills reduction quad rq of every row it loads, so the four r it reads are
  // decoded once per step and shared by its grad and src loads.
  const decode = (k: string) => E.map(
    (e) => `let r${e} = i32(${k} + 4u * rq) + ${e};
      let in${e} = r${e} < k_end;
      let rc${e} = min(r${e}, k_end - 1);
      let n${e} = rc${e} / ghw; let s${e} = rc${e} % ghw;
      let g${e} = n${e} * params.m * ghw + s${e};
      let y${e} = (s${e} / params.grad_w) * params.stride_h - params.pad_h;
      let x${e} = (s${e} % params.grad_w) * params.stride_w - params.pad_w;
      let sn${e} = n${e} * params.c * shw;`,
  ).join('\n      ');
  const srcValue = (e: number) => {
    const at = `sn${e} + cb + (y${e} + ky) * params.src_w + x${e} + kx`;
    const ok = o.checked
      ? `in${e} & (u32(y${e} + ky) < u32(params.src_h)) & (u32(x${e} + kx) < u32(params.src_w))`
      : `in${e}`;
    return `select(0.0, src[u32(select(0, ${at}, ${ok}))], ${ok})`;
  };
  const fill = (k: string, aOff: string, bOff: string) => `
    {
      ${decode(k)}
      for (var t = row0; t < BM; t += row_step) {
        let mrow = min(tile_m + i32(t), params.m - 1) * ghw;
        As[${aOff} + t * QK + rq] = vec4f(${E.map((e) => `select(0.0, grad[u32(g${e} + mrow)], in${e})`).join(', ')});
      }
      for (var t = row0; t < BN; t += row_step) {
        let col = min(tile_col + i32(t), params.cols - 1);
        let tap = col % ${KH * KW};
        let cb = (col / ${KH * KW}) * shw;
        let ky = (tap / ${KW}) * params.dil_h;
        let kx = (tap % ${KW}) * params.dil_w;
        Bs[${bOff} + t * QK + rq] = vec4f(${E.map(srcValue).join(', ')});
      }
    }`;

  const step: string[] = [];
  for (let kq = 0; kq < bk / 4; kq++) {
    step.push('    {');
    for (const r of rows) step.push(`      let a${r} = As[off_a + (lid.y * ${tm}u + ${r}u) * QK + ${kq}u];`);
    for (const c of cols) step.push(`      let b${c} = Bs[off_b + (${c}u * WG_X + lid.x) * QK + ${kq}u];`);
    for (const r of rows) {
      for (const q of quads) {
        const dots = E.map((l) => `dot(a${r}, b${4 * q + l})`).join(', ');
        step.push(`      acc${r}_${q} += vec4f(${dots});`);
      }
    }
    step.push('    }');
  }
  const loop = doubleBufferedLoopWGSL({
    operands: ['A', 'B'],
    offsets: ['off_a', 'off_b'],
    begin: 'u32(k_begin)',
    end: 'u32(k_end)',
    next: '(k0 + BK)',
    fill,
    step: step.join('\n'),
  });
  const accumulators = rows.flatMap((r) => quads.map((q) => `var acc${r}_${q} = vec4f(0.0);`)).join('\n  ');
  const stores = rows.map((r) => {
    const lanes = quads.flatMap((q) =>
      E.map((l) => {
        const col = `tile_col + ${4 * q + l} * i32(WG_X) + i32(lid.x)`;
        return `if (${col} < params.cols) { partial[base + u32(${col})] = acc${r}_${q}[${l}]; }`;
      }),
    );
    return `if (m0 + ${r} < params.m) {
    let base = u32((split * params.m + m0 + ${r}) * params.cols);
    ${lanes.join('\n    ')}
  }`;
  });

  return wgsl`
struct Params {
  batch: i32, m: i32, c: i32, depth: i32,
  src_h: i32, src_w: i32, grad_h: i32, grad_w: i32,
  stride_h: i32, stride_w: i32, pad_h: i32, pad_w: i32,
  dil_h: i32, dil_w: i32, cols: i32, chunk: i32,
}
@group(0) @binding(0) var<storage, read> grad: array<f32>;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> partial: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
override WG_X: u32 = 16;
override WG_Y: u32 = 16;
const BK = ${bk}u;
const QK = ${bk / 4}u;
override BM: u32 = WG_Y * ${tm}u;
override BN: u32 = WG_X * ${tn}u;
override TILE_A: u32 = BM * QK;
override TILE_B: u32 = BN * QK;
${doubleBufferedTilesWGSL(['A', 'B'])}

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let tile_col = i32(wid.x * BN);
  let tile_m = i32(wid.y * BM);
  let split = i32(wid.z);
  let k_begin = split * params.chunk;
  let k_end = min(k_begin + params.chunk, params.depth);
  let ghw = params.grad_h * params.grad_w;
  let shw = params.src_h * params.src_w;
  let threads = WG_X * WG_Y;
  let rq = li % QK;
  let row0 = li / QK;
  let row_step = threads / QK;
  // No early return: every invocation must reach the barriers.
  ${accumulators}
${loop}
  let m0 = tile_m + i32(lid.y) * ${tm};
  ${stores.join('\n  ')}
}
`;
}
