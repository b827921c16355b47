import { Conv2d, Flatten, Linear, MaxPool2d, mnistCnn, mnistMlp, ReLU, Sequential } from '../../src/index.js';

/*
 * The demos' models, built in the training worker from the sizes typed on the page (a model holds
 * code, so only its sizes cross from the page).
 */

/** MLP with the given hidden widths (784 → … → 10). */
export const classifierMlp = (sizes: number[]): Sequential => mnistMlp(sizes);

/**
 * conv 3×3 → ReLU → maxpool 2 per entry of `channels`, then one Linear to the 10 classes: small
 * enough to train at interactive speed on a software adapter (28 → 26 → 13 → 11 → 5). No
 * channels: the benchmark's `mnistCnn`.
 */
export function classifierCnn(channels: number[]): Sequential {
  if (channels.length === 0) return mnistCnn();
  const layers = [];
  let c = 1;
  let side = 28;
  for (const out of channels) {
    layers.push(new Conv2d(c, out, 3), ReLU(), new MaxPool2d(2));
    c = out;
    side = Math.floor((side - 2) / 2);
  }
  if (side < 1) throw new Error(`${channels.length} conv blocks shrink 28×28 images to nothing; use at most 3`);
  return new Sequential(...layers, new Flatten(), new Linear(c * side * side, 10));
}

/** Output channels of layer `i`: those of the last convolution at or before it. */
export function channelsAt(model: Sequential, i: number): number {
  for (let k = i; k >= 0; k--) {
    const layer = model.layers[k];
    if (layer instanceof Conv2d) return layer.outChannels;
  }
  return 1;
}
