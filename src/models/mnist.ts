import { Flatten, Linear, ReLU, Sequential } from '../nn/layers.js';
import type { Module } from '../nn/module.js';

/** The benchmark MLP: 784→256→256→10 with ReLU (torch: nn.Sequential(Flatten, Linear, ReLU, Linear, ReLU, Linear)). */
export function mnistMlp(hidden: readonly number[] = [256, 256], pixels = 784, classes = 10): Sequential {
  const layers: Module[] = [new Flatten()];
  let width = pixels;
  for (const h of hidden) {
    layers.push(new Linear(width, h), ReLU());
    width = h;
  }
  layers.push(new Linear(width, classes));
  return new Sequential(...layers);
}
