import { describe, expect, it } from 'vitest';
import { ACTIVATIONS } from '../../shaders/lib/activations.js';
import { activation, activationGrad } from '../../src/eager/activation.js';
import { tensor } from '../../src/eager/tensor.js';
import { useEngine } from '../helpers/engine.js';
import { dot, expectClose, numericGradient } from '../helpers/compare.js';
import { uniform } from '../helpers/random.js';
import { activateAll } from '../reference/activation.js';

const engine = useEngine();

describe('activations', () => {
  // Tails of partial workgroups, a single element, and more than one workgroup row.
  const sizes = [1, 7, 257, 70_001];
  for (const kind of ACTIVATIONS) {
    const alpha = kind === 'leaky_relu' ? 0.2 : undefined;
    it(`${kind} forward matches float64 reference`, async () => {
      for (const n of sizes) {
        const x = uniform(n, n + 1, -6, 6);
        const t = tensor(engine(), x, [n]);
        const y = activation(t, { kind, alpha });
        expectClose(await y.read(), activateAll(kind, x, alpha), { atol: 2e-6, rtol: 2e-6 }, `${kind} n=${n}`);
        t.dispose();
        y.dispose();
      }
    });

    it(`${kind} backward matches finite differences`, async () => {
      const n = 33;
      // Keep away from the kink at 0, where finite differences of relu-like functions are meaningless.
      const x = uniform(n, 7, -3, 3).map((v) => (Math.abs(v) < 0.05 ? v + 0.1 : v));
      const dy = uniform(n, 8);
      const xt = tensor(engine(), x, [n]);
      const y = activation(xt, { kind, alpha });
      const saved = kind === 'gelu' ? xt : y;
      const dyt = tensor(engine(), dy, [n]);
      const dx = activationGrad(dyt, saved, { kind, alpha });
      const numeric = numericGradient((v) => dot(dy, activateAll(kind, v, alpha)), x);
      expectClose(await dx.read(), numeric, { atol: 1e-5, rtol: 1e-4 }, `${kind} dx`);
      for (const t of [xt, y, dyt, dx]) t.dispose();
    });
  }

  it('rejects mismatched gradient shapes before touching the GPU', () => {
    const a = tensor(engine(), [1, 2, 3], [3]);
    const b = tensor(engine(), [1, 2], [2]);
    expect(() => activationGrad(a, b, { kind: 'relu' })).toThrow(/activation_backward: shapes \[3\] and \[2\] differ/);
    a.dispose();
    b.dispose();
  });

  it('leaves no buffers alive', () => {
    expect(engine().stats.liveBuffers).toBe(0);
  });
});
