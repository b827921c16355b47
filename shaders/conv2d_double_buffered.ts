import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { activationWGSL } from './lib/activations.js';
import { doubleBufferedLoopWGSL, doubleBufferedTilesWGSL } from './lib/double_buffer.js';
import { ConvGatherEmitter, type ConvGemmShaderOptions } from './conv2d.js';
import { convGemmBindingsWGSL, convGemmParamsWGSL } from './lib/conv_gemm_io.js';

/**
 * The implicit GEMM of shaders/conv2d.ts (forward and transposed gathers: conv2d forward and
 * backward-data, conv_transpose2d both ways) on a double-buffered workgroup tile, the shape GPUs
 * reward: a workgroup of WG_X × WG_Y invocations owns BM = WG_Y·TM output channels × BP = WG_X·TN
 * flat output positions, each invocation a TM×TN register block (8×8: 64 products per TM + TN
 * vec4 reads of workgroup memory): TM consecutive channels, and TN/4 quads of 4 positions WG_X
 * quads apart, so that neighbouring invocations read neighbouring vec4s of the src tile (no bank
 * conflicts) and store neighbouring positions. The reduction (c, kh, kw) advances BK rows per
 * step; each operand has two tiles in workgroup memory, and while the workgroup multiplies from one
 * it fills the other with the next step, so one barrier per step separates writes from reads and
 * the next step's global loads are issued before this step's arithmetic.
 *
 * Tiles are vec4s along their contiguous axis: the weight tile is BM rows of BK/4 vec4s along the
 * reduction (the forward conv weight [Cout, Cin·KH·KW] is contiguous there), the src tile BK rows
 * of BP/4 vec4s along positions (4 neighbouring output columns, neighbouring src addresses at
 * stride 1). Rows past the reduction's end are zero-filled; positions and channels past the
 * output's edges are clamped to valid ones, computed and never stored. TM, TN and BK shape the
 * generated code; the workgroup size (hence the tile) is an override.
 */
export interface ConvDoubleBufferedBlock {
  tm: number;
  tn: number;
  bk: number;
}

export function convGemmDoubleBufferedShader(o: ConvGemmShaderOptions, block: ConvDoubleBufferedBlock): string {
  const { tm, tn, bk } = block;
  if (tm % 4 !== 0 || tn % 4 !== 0 || bk % 4 !== 0) {
    throw new Error(`conv double-buffered block ${tm}×${tn}, reduction step ${bk}: all must be multiples of 4`);
  }
  const g = new ConvGatherEmitter(o);
  const J = [0, 1, 2, 3];
  const [KH, KW] = o.kernel;
  const rows = [...Array(tm).keys()];
  const quads = [...Array(tn / 4).keys()];

  // The src quad this invocation fills is the same every step (threads is a multiple of QP), so
  // its positions' (n, oy, ox) are decoded once.
  const positions = J.map((j) => g.position(j, `tile_p + i32(pq) * 4 + ${j}`)).join('\n  ');
  const gather = g.gather(J).join('\n      ');
  const fill = (k: string, wOff: string, xOff: string) => `
    for (var kr = kr0; kr < BK; kr += kr_step) {
      let k = i32(${k} + kr);
      let kc = min(k, depth - 1);
      let c = kc / ${KH * KW};
      let tap = kc % ${KH * KW};
      let kh = tap / ${KW};
      let kw = tap % ${KW};
      ${gather}
      Xs[${xOff} + kr * QP + pq] = select(vec4f(0.0), vec4f(v0, v1, v2, v3), k < depth);
    }
    for (var i = li; i < TILE_W; i += threads) {
      let wrow = min(tile_m + i32(i / QK), params.m - 1) * params.w_stride_out;
      let k = i32(${k} + 4u * (i % QK));
      Ws[${wOff} + i] = vec4f(${J.map((e) => `weight_at(wrow, k + ${e}, depth)`).join(', ')});
    }`;

  const step: string[] = [];
  for (let kq = 0; kq < bk / 4; kq++) {
    step.push('    {');
    for (const r of rows) step.push(`      let a${r} = Ws[off_w + (lid.y * ${tm}u + ${r}u) * QK + ${kq}u];`);
    for (const e of J) {
      for (const c of quads) step.push(`      let b${e}_${c} = Xs[off_x + ${4 * kq + e}u * QP + ${c}u * WG_X + lid.x];`);
      for (const r of rows) for (const c of quads) step.push(`      acc${r}_${c} = fma(vec4f(a${r}[${e}]), b${e}_${c}, acc${r}_${c});`);
    }
    step.push('    }');
  }
  const loop = doubleBufferedLoopWGSL({
    operands: ['W', 'X'],
    offsets: ['off_w', 'off_x'],
    begin: '0u',
    end: 'u32(depth)',
    next: 'k0 + BK',
    fill,
    step: step.join('\n'),
  });
  const accumulators = rows.flatMap((r) => quads.map((c) => `var acc${r}_${c} = vec4f(0.0);`)).join('\n  ');
  const stores = quads.flatMap((c) =>
    J.map((l) => {
      const p = `p${c} + ${l}`;
      const lanes = rows.map((r) => {
        const value = o.bias ? `acc${r}_${c}[${l}] + bias[m0 + ${r}]` : `acc${r}_${c}[${l}]`;
        return `if (m0 + ${r} < params.m) { dst[u32(ob + (m0 + ${r}) * dhw)] = activate(${value}); }`;
      });
      return `if (${p} < params.positions) {
    let ob = ((${p}) / dhw) * params.m * dhw + (${p}) % dhw;
    ${lanes.join('\n    ')}
  }`;
    }),
  );

  return wgsl`
${activationWGSL(o.activation)}
${convGemmParamsWGSL}
${convGemmBindingsWGSL(o.bias)}
override WG_X: u32 = 16;
override WG_Y: u32 = 16;
const BK = ${bk}u;
const QK = ${bk / 4}u;
// The weight tile is BM rows of QK vec4s, the src tile BK rows of QP = BP / 4 vec4s.
override BM: u32 = WG_Y * ${tm}u;
override QP: u32 = WG_X * ${tn / 4}u;
override TILE_W: u32 = BM * QK;
override TILE_X: u32 = BK * QP;
${doubleBufferedTilesWGSL(['W', 'X'])}

/** weight(m, c, kh, kw) at reduction row k = (c·KH + kh)·KW + kw; 0 past the reduction's end. */
fn weight_at(wrow: i32, k: i32, depth: i32) -> f32 {
  let kc = min(k, depth - 1);
  let at = wrow + (kc / ${KH * KW}) * params.w_stride_red + kc % ${KH * KW};
  return select(0.0, weight[u32(at)], k < depth);
}

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let tile_p = i32(wid.x * QP * 4u);
  let tile_m = i32(wid.y * BM);
  let dhw = params.dst_h * params.dst_w;
  let shw = params.src_h * params.src_w;
  let depth = params.c * ${KH * KW};
  let threads = WG_X * WG_Y;
  let pq = li % QP;
  let kr0 = li / QP;
  let kr_step = threads / QP;
  // No early return: every invocation must reach the barriers.
  ${positions}
  ${accumulators}
${loop}
  let m0 = tile_m + i32(lid.y) * ${tm};
  ${quads.map((c) => `let p${c} = tile_p + (${c} * i32(WG_X) + i32(lid.x)) * 4;`).join('\n  ')}
  ${stores.join('\n  ')}
}
`;
}
