import { ShapeError } from '../../gpu/errors.js';
import { padChannelsProgram } from '../../kernels/pad_channels.js';
import { describeShape } from '../ir.js';
import { program } from '../lower.js';
import { expectArity, expectF32, materialise, type OpRule } from './rule.js';

/** The op kinds this file defines, with their attributes (see OpAttrs in ./kinds.ts). */
export interface PadChannelsOps {
  /** x [N, C, ...] → [N, C + before + after, ...] with zero channels (negative counts crop). */
  pad_channels: PadChannelsAttrs;
}

/** Zero channels added before and after axis 1 of x [N, C, ...]; negative counts crop instead. */
export interface PadChannelsAttrs {
  before: number;
  after: number;
}

export const padChannelsRule: OpRule<'pad_channels'> = {
  infer(inputs, { before, after }, where) {
    expectArity(where, inputs, 1, 'x');
    const [x] = inputs;
    expectF32(where, 'x', x);
    if (x.shape.length < 2) throw new ShapeError(`${where}: x ${describeShape(x.shape)} needs a channel axis: expected [batch, channels, ...]`);
    if (!Number.isInteger(before) || !Number.isInteger(after)) throw new ShapeError(`${where}: before ${before} and after ${after} must be integers`);
    const channels = x.shape[1] + before + after;
    if (channels < 1 || -before >= x.shape[1] || -after >= x.shape[1]) {
      throw new ShapeError(`${where}: padding ${before} before and ${after} after the ${x.shape[1]} channels of ${describeShape(x.shape)} leaves no channel; crop fewer`);
    }
    return [{ shape: [x.shape[0], channels, ...x.shape.slice(2)], dtype: 'f32' }];
  },
  // y[c] = x[c − before] where it exists: dx[c] = dy[c + before], the pad with both counts negated.
  grad(g, node, [up], needs) {
    if (up === null || !needs[0]) return [null];
    const dy = materialise(g, up, node.outputs[0]);
    return [g.apply('pad_channels', [dy], { before: -node.attrs.before, after: -node.attrs.after })[0]];
  },
  lower: ({ inputs: [x], outputs: [y], attrs }) => {
    const inner = x.shape.slice(2).reduce((a, b) => a * b, 1);
    return program(padChannelsProgram({ outer: x.shape[0], inChannels: x.shape[1], outChannels: y.shape[1], inner, before: attrs.before }));
  },
};
