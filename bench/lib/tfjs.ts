import type * as TF from '@tensorflow/tfjs';

/** What the harness and workloads use of TF.js's WebGPU backend beyond the public `tf` API. */
interface WebGPUBackendLike {
  device: GPUDevice;
  commandEncoder: GPUCommandEncoder | null;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

function webgpuBackend(tf: typeof TF): WebGPUBackendLike {
  const backend = tf.backend() as unknown as Partial<WebGPUBackendLike>;
  if (!backend.device || typeof backend.submitQueue !== 'function' || typeof backend.endComputePassEncoder !== 'function') {
    throw new Error(`TF.js backend '${tf.getBackend()}' is not the WebGPU backend`);
  }
  return backend as WebGPUBackendLike;
}

/**
 * Resolves when the GPU has finished everything TF.js recorded, without reading a result back:
 * TF.js keeps dispatches in an open compute pass of an open command encoder until a readback or a
 * batch limit (WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE), so both must be closed and submitted before the
 * queue can be waited on.
 */
export async function tfjsFinish(tf: typeof TF): Promise<void> {
  const backend = webgpuBackend(tf);
  backend.endComputePassEncoder();
  if (backend.commandEncoder) backend.submitQueue();
  await backend.device.queue.onSubmittedWorkDone();
}

/** The GPUDevice TF.js made (for its adapter info). */
export function tfjsDevice(tf: typeof TF): GPUDevice {
  return webgpuBackend(tf).device;
}
