import type { ImageDataset } from '../../src/data/dataset.js';
import type { Normalisation } from '../../src/data/gpu_dataset.js';

/** Pixels as floats, (byte/255 − mean)/std, exactly what the GPU batch gather writes. */
export function normalisedPixels(d: ImageDataset, { mean, std }: Normalisation): Float32Array {
  return Float32Array.from(d.images, (v) => (v / 255 - mean) / std);
}

export function oneHot(labels: Uint8Array, classes: number): Float32Array {
  const out = new Float32Array(labels.length * classes);
  labels.forEach((l, i) => (out[i * classes + l] = 1));
  return out;
}

/**
 * Kernel dispatches recorded while `work` runs, counted on GPUComputePassEncoder's prototype, so
 * both engines are counted the same way (every dispatch either records goes through it).
 */
export async function countDispatches(work: () => unknown): Promise<number> {
  const proto = GPUComputePassEncoder.prototype;
  const original = proto.dispatchWorkgroups;
  let count = 0;
  proto.dispatchWorkgroups = function (this: GPUComputePassEncoder, ...args: Parameters<typeof original>) {
    count++;
    return original.apply(this, args);
  };
  try {
    await work();
  } finally {
    proto.dispatchWorkgroups = original;
  }
  return count;
}

/** Throws unless every loss value is finite: a benchmark of a diverging step measures nothing. */
export function checkLosses(workload: string, side: string, losses: number[]): void {
  if (!losses.length || !losses.every(Number.isFinite)) {
    throw new Error(`${workload}: ${side} does not train: losses over the set-up steps were [${losses.join(', ')}]`);
  }
}
