import { describe, expect, it } from 'vitest';
import { createGraph } from '../../src/graph/graph.js';
import type { Value } from '../../src/graph/ir.js';
import { ParameterStore } from '../../src/graph/params.js';
import { Conv2d, ConvTranspose2d } from '../../src/nn/conv.js';
import { expectClose } from '../helpers/compare.js';
import { useEngine } from '../helpers/engine.js';
import { uniform } from '../helpers/random.js';
import { evaluate } from '../reference/graph.js';

const engine = useEngine();

describe("Conv2d padding 'same' and 'valid'", () => {
  it("'same' keeps the spatial size and equals the explicit symmetric padding, dilation included", async () => {
    const store = new ParameterStore(engine(), { seed: 2 });
    const same = new Conv2d(2, 3, [3, 5], { padding: 'same', dilation: [2, 1] });
    same.register(store);
    expect([...same.padding]).toEqual([2, 2]);
    const g = createGraph();
    const x = g.input('x', [2, 2, 6, 7]);
    const y = same.apply(g, x, { store, training: false });
    expect(y.shape).toEqual([2, 3, 6, 7]);
    // The reference: conv2d with padding written out, over the same weights.
    const explicit = new Conv2d(2, 3, [3, 5], { padding: [2, 2], dilation: [2, 1] });
    const ye = explicit.apply(g, x, { store, training: false });
    const feeds = new Map<Value, Float64Array>([[x, Float64Array.from(uniform(x.size, 3))]]);
    for (const p of g.params) feeds.set(p, Float64Array.from(await store.read(p.name)));
    const env = evaluate(g, feeds);
    expectClose(env.get(y)!, env.get(ye)!, { atol: 0, rtol: 0 });
    expect([...new Conv2d(1, 1, 4, { padding: 'valid' }).padding]).toEqual([0, 0]);
    store.dispose();
  });

  it('refuses what it cannot do with the reason and the fix', () => {
    expect(() => new Conv2d(1, 1, 3, { padding: 'same', stride: 2 })).toThrow(/Conv2d\(1→1\): padding 'same' needs stride 1 \(got \[2, 2\]\)/);
    expect(() => new Conv2d(1, 1, [3, 4], { padding: 'same' })).toThrow(/needs 2 and 3 padding in total, which does not split evenly.*use an odd kernel size/);
    expect(() => new Conv2d(1, 1, 3, { padding: 'full' as never })).toThrow(/padding 'full' must be a number, \[h, w\], 'same' or 'valid'/);
    expect(() => new ConvTranspose2d(1, 1, 3, { padding: 'same' })).toThrow(/ConvTranspose2d\(1→1\): padding 'same' is not supported here/);
  });
});
