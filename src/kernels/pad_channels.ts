import { padChannelsShader } from '../../shaders/pad_channels.js';
import { dispatch1D } from './geometry.js';
import { UniformWriter, type KernelProgram } from './kernel.js';

const WG = 256;

/** Sizes of a channel pad: x [outer, inChannels, inner] → y [outer, outChannels, inner]. */
export interface PadChannelsGeometry {
  outer: number;
  inChannels: number;
  outChannels: number;
  inner: number;
  /** Zero channels put before x's (negative: channels of x dropped from the front). */
  before: number;
}

/** io: x, y. One launch, one invocation per output element. */
export function padChannelsProgram(p: PadChannelsGeometry): KernelProgram {
  const n = p.outer * p.outChannels * p.inner;
  const uniforms = new UniformWriter().u32(p.outer, p.inChannels, p.outChannels, p.inner).i32(p.before).finish();
  return {
    name: 'pad_channels',
    scratch: [],
    launches: [
      {
        spec: {
          name: 'pad_channels',
          code: padChannelsShader(),
          entryPoint: 'main',
          constants: { WG },
          bindings: ['read', 'write', 'uniform'],
          workgroups: dispatch1D(n, WG),
          uniforms,
        },
        args: [{ io: 0 }, { io: 1 }],
      },
    ],
  };
}
