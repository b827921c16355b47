import type { ParameterStore } from '../graph/params.js';
import type { Optimizer } from '../optim/optimizers.js';
import { checkCheckpoint, CheckpointError, decodeSafetensors, encodeSafetensors, type NamedTensor } from './safetensors.js';

/**
 * The optimizer state of `store` as safetensors: for every trainable parameter `p` and every state
 * the optimizer keeps, a tensor `p.<state>` shaped as `p`, named as torch.optim names it
 * (`exp_avg`, `exp_avg_sq` for Adam and AdamW, `momentum_buffer` for SGD with momentum: the update
 * kernels keep the same recurrences); the update count t and the optimizer's name in the metadata
 * (`step`, `optimizer`).
 */
export async function encodeOptimizerState(store: ParameterStore, optimizer: Optimizer, metadata: Record<string, string> = {}): Promise<Uint8Array> {
  const tensors: NamedTensor[] = [];
  for (const key of optimizer.stateKeys) {
    const flat = await store.readState(key);
    for (const p of store.list) tensors.push({ name: `${p.name}.${key}`, shape: p.shape, data: flat.slice(p.offset, p.offset + p.size) });
  }
  return encodeSafetensors(tensors, { ...metadata, format: 'pt', content: 'optimizer', optimizer: optimizer.name, step: String(store.optimizerSteps) });
}

/**
 * Loads what `encodeOptimizerState` wrote into `store`, so the optimizer carries on where it
 * stopped. The optimizer must be of the same kind and the tensors must match the model's
 * parameters: otherwise nothing is written and the error lists every mismatch.
 */
export function loadOptimizerState(store: ParameterStore, optimizer: Optimizer, bytes: Uint8Array): void {
  const { tensors, metadata } = decodeSafetensors(bytes);
  if (metadata.content !== 'optimizer') {
    throw new CheckpointError('this safetensors file holds no optimizer state (its metadata lacks content=optimizer); load model weights with `load`');
  }
  if (metadata.optimizer !== optimizer.name) {
    throw new CheckpointError(`the checkpoint holds ${metadata.optimizer} state, but this model trains with ${optimizer.name}; use the same optimizer to resume`);
  }
  const step = Number(metadata.step);
  if (!(Number.isInteger(step) && step >= 0)) throw new CheckpointError(`the checkpoint's step count '${metadata.step}' is not a non-negative integer`);
  const expected = new Map<string, readonly number[]>();
  for (const key of optimizer.stateKeys) for (const p of store.list) expected.set(`${p.name}.${key}`, p.shape);
  checkCheckpoint(expected, tensors);
  for (const key of optimizer.stateKeys) for (const p of store.list) store.writeState(key, p.name, tensors.get(`${p.name}.${key}`)!.data);
  store.setOptimizerSteps(step);
}
