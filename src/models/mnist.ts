import { Conv2d, MaxPool2d } from '../nn/conv.js';
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

/**
 * The benchmark CNN: conv 1→32 3×3, ReLU, conv 32→64 3×3, ReLU, maxpool 2×2, flatten,
 * 9216→128, ReLU, 128→10 (PyTorch's MNIST example without dropout).
 */
export function mnistCnn(size: readonly [number, number] = [28, 28], classes = 10): Sequential {
  const flat = 64 * Math.floor((size[0] - 4) / 2) * Math.floor((size[1] - 4) / 2);
  return new Sequential(new Conv2d(1, 32, 3), ReLU(), new Conv2d(32, 64, 3), ReLU(), new MaxPool2d(2), new Flatten(), new Linear(flat, 128), ReLU(), new Linear(128, classes));
}
