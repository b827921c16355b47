import { BatchNorm1d, BatchNorm2d, Conv2d, ConvTranspose2d, Flatten, LeakyReLU, Linear, Module, ReLU, Sequential, Tanh, type Graph, type Value } from '../../src/index.js';

/**
 * [batch, n] → [batch, ...shape]; the library has Flatten but not its inverse, which a DCGAN needs
 * between its linear projection and its transposed convolutions (and GanTrainer passes flat images).
 */
export class Unflatten extends Module {
  constructor(readonly shape: readonly number[]) {
    super();
  }

  describe(): string {
    return `Unflatten(${this.shape.join('×')})`;
  }

  forward(g: Graph, x: Value): Value {
    return g.apply('reshape', [x], { shape: [x.shape[0], ...this.shape] })[0];
  }
}

/**
 * DCGAN generator for 28×28: z → Linear → BN → ReLU → [c0, 7, 7] → ConvT 4×4/2 → [c1, 14, 14] → BN →
 * ReLU → ConvT 4×4/2 → [1, 28, 28] → tanh, flattened to 784 as GanTrainer expects.
 */
export function dcganGenerator(latent: number, [c0, c1]: readonly number[]): Sequential {
  return new Sequential(
    new Linear(latent, c0 * 49),
    new BatchNorm1d(c0 * 49),
    ReLU(),
    new Unflatten([c0, 7, 7]),
    new ConvTranspose2d(c0, c1, 4, { stride: 2, padding: 1 }),
    new BatchNorm2d(c1),
    ReLU(),
    new ConvTranspose2d(c1, 1, 4, { stride: 2, padding: 1 }),
    Tanh(),
    new Flatten(),
  );
}

/** DCGAN discriminator: [1, 28, 28] → conv 4×4/2 → [d0, 14, 14] → LeakyReLU → conv 4×4/2 → [d1, 7, 7] → BN → LeakyReLU → one logit. */
export function dcganDiscriminator([d0, d1]: readonly number[]): Sequential {
  return new Sequential(
    new Unflatten([1, 28, 28]),
    new Conv2d(1, d0, 4, { stride: 2, padding: 1 }),
    LeakyReLU(0.2),
    new Conv2d(d0, d1, 4, { stride: 2, padding: 1 }),
    new BatchNorm2d(d1),
    LeakyReLU(0.2),
    new Flatten(),
    new Linear(d1 * 49, 1),
  );
}
