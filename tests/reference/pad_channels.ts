import type { RefOp } from './ref_op.js';

/**
 * Float64 channel padding, as torch.nn.functional.pad(x, (0, 0, …, before, after)) on axis 1 of
 * x [outer, C, inner]; negative counts crop, as torch's negative pads do.
 */
export function padChannelsRef(x: ArrayLike<number>, shape: readonly number[], before: number, after: number): Float64Array {
  const [outer, channels] = shape;
  const inner = shape.slice(2).reduce((a, b) => a * b, 1);
  const out = channels + before + after;
  const y = new Float64Array(outer * out * inner);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < out; c++) {
      const source = c - before;
      if (source < 0 || source >= channels) continue;
      for (let k = 0; k < inner; k++) y[(o * out + c) * inner + k] = x[(o * channels + source) * inner + k];
    }
  }
  return y;
}

export const padChannelsOpRef: RefOp<'pad_channels'> = ([x], { attrs, inputs: [xV] }) => [padChannelsRef(x, xV.shape, attrs.before, attrs.after)];
