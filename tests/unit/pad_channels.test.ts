import { describe, expect, it } from 'vitest';
import { gradients } from '../../src/graph/autodiff.js';
import { createGraph } from '../../src/graph/graph.js';
import type { Value } from '../../src/graph/ir.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { expectClose, numericGradient } from '../helpers/compare.js';
import { useEngine } from '../helpers/engine.js';
import { uniform } from '../helpers/random.js';
import { runGraphOnGpu } from '../helpers/run_graph.js';
import { evaluate } from '../reference/graph.js';
import { padChannelsRef } from '../reference/pad_channels.js';

const engine = useEngine();
const f64 = (a: ArrayLike<number>) => Float64Array.from(a);
// ResNet's option-A shortcut (8 → 16 channels, 4 each side), one-sided pads, crops (negative
// counts), a rank-2 input and an odd inner size not a multiple of a workgroup.
const CASES: { shape: number[]; before: number; after: number }[] = [
  { shape: [3, 8, 5, 5], before: 4, after: 4 },
  { shape: [2, 3, 7], before: 0, after: 2 },
  { shape: [2, 5, 3], before: -2, after: 1 },
  { shape: [4, 6], before: 1, after: -3 },
  { shape: [1, 1, 67, 5], before: 3, after: 0 },
];

/** loss = mse(pad_channels(x), t) and d loss / d x by autodiff. */
function padGraph(shape: number[], before: number, after: number) {
  const g = createGraph();
  const x = g.input('x', shape);
  const [y] = g.apply('pad_channels', [x], { before, after });
  const t = g.input('t', y.shape);
  const [loss] = g.apply('mse', [y, t], {});
  const end = g.nodes.length;
  const dx = gradients(g, loss, [x]).get(x)!;
  const data = new Map<Value, Float32Array>([
    [x, uniform(x.size, x.size + 1, -2, 2)],
    [t, uniform(y.size, y.size + 7)],
  ]);
  return { g, x, y, loss, dx, end, data };
}

describe('pad_channels', () => {
  it('the float64 reference puts x channel c at c + before, zeros elsewhere', () => {
    // [1, 2, 2] → 1 zero channel, x's two, then 2 zero channels.
    expect([...padChannelsRef([1, 2, 3, 4], [1, 2, 2], 1, 2)]).toEqual([0, 0, 1, 2, 3, 4, 0, 0, 0, 0]);
    expect([...padChannelsRef([1, 2, 3, 4, 5, 6], [1, 3, 2], -1, 0)]).toEqual([3, 4, 5, 6]);
  });

  it('autodiff through the pad matches finite differences of the float64 graph', () => {
    for (const { shape, before, after } of CASES.slice(0, 4)) {
      const { g, x, loss, dx, end, data } = padGraph(shape, before, after);
      const feeds = new Map<Value, Float64Array>([...data].map(([v, d]) => [v, f64(d)]));
      const env = evaluate(g, feeds);
      const numeric = numericGradient((p) => evaluate(g, new Map(feeds).set(x, p), end).get(loss)![0], feeds.get(x)!);
      expectClose(env.get(dx)!, numeric, { atol: 1e-8, rtol: 1e-6 }, `dx [${shape}] ${before}/${after}`);
    }
  });

  it('the kernel and its gradient match float64 on awkward shapes', async () => {
    for (const { shape, before, after } of CASES) {
      const { g, y, dx, data } = padGraph(shape, before, after);
      const got = await runGraphOnGpu(engine(), g, data, [y, dx], true);
      const want = evaluate(g, new Map([...data].map(([v, d]) => [v, f64(d)])));
      expectClose(got.get(y)!, want.get(y)!, { atol: 0, rtol: 0 }, `y [${shape}] ${before}/${after}`);
      expectClose(got.get(dx)!, want.get(dx)!, { atol: 1e-7, rtol: 1e-5 }, `dx [${shape}] ${before}/${after}`);
    }
  });

  it('refuses a crop that leaves no channel and a missing channel axis, naming the op', () => {
    const g = createGraph();
    expect(() => g.apply('pad_channels', [g.input('x', [2, 3, 4])], { before: -2, after: -1 })).toThrow(ShapeError);
    expect(() => g.apply('pad_channels', [g.input('x', [2, 3, 4])], { before: -3, after: 1 })).toThrow(/leaves no channel/);
    expect(() => g.apply('pad_channels', [g.input('v', [5])], { before: 1, after: 1 })).toThrow(/pad_channels.*channel axis/);
  });
});
