import { LeakyReLU, Linear, Sequential, Tanh } from '../nn/layers.js';

/** The benchmark generator: z(100) → 256 → 512 → 784, LeakyReLU 0.2, tanh output in [−1, 1]. */
export function mlpGenerator(latent = 100, hidden: readonly number[] = [256, 512], pixels = 784): Sequential {
  const layers = [];
  let width = latent;
  for (const h of hidden) {
    layers.push(new Linear(width, h), LeakyReLU(0.2));
    width = h;
  }
  layers.push(new Linear(width, pixels), Tanh());
  return new Sequential(...layers);
}

/** The benchmark discriminator: 784 → 512 → 256 → 1 logit, LeakyReLU 0.2. */
export function mlpDiscriminator(pixels = 784, hidden: readonly number[] = [512, 256]): Sequential {
  const layers = [];
  let width = pixels;
  for (const h of hidden) {
    layers.push(new Linear(width, h), LeakyReLU(0.2));
    width = h;
  }
  layers.push(new Linear(width, 1));
  return new Sequential(...layers);
}
