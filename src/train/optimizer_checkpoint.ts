import type { ParameterStore } from '../graph/params.js';
import type { Optimizer } from '../optim/optimizers.js';
import { checkCheckpoint, CheckpointError, decodeSafetensors, encodeSafetensors, type NamedTensor } from './safetensors.js';

/**
 * PyTorch's names for the per-parameter state that torch.optim keeps and that the update kernels
 * keep the same way (same recurrences, same layout as the parameter).
 */
const TORCH_STATE_NAMES: Readonly<Record<string, string>> = {
  'adam.m': 'exp_avg',
  'adam.v': 'exp_avg_sq',
  'sgd.momentum': 'momentum_buffer',
};

function torchName(key: string): string {
  const name = TORCH_STATE_NAMES[key];
  if (!name) throw new CheckpointError(`optimizer state '${key}' has no checkpoint name`);
  return name;
}

/**
 * The optimizer state of `store` as safetensors: for every trainable parameter `p` and every state
 * the optimizer keeps, a tensor `p.<state>` (`exp_avg`, `exp_avg_sq` for Adam and AdamW,
 * `momentum_buffer` for SGD with momentum) shaped as `p`; the update count t and the optimizer's
 * name in the metadata (`step`, `optimizer`).
 */
export async function encodeOptimizerState(store: ParameterStore, optimizer: Optimizer, metadata: Record<string, string> = {}): Promise<Uint8Array> {
  const tensors: NamedTensor[] = [];
  for (const p of store.list) {
    for (const key of optimizer.stateKeys) tensors.push({ name: `${p.name}.${torchName(key)}`, shape: p.shape, data: await store.readState(key, p.name) });
  }
  return encodeSafetensors(tensors, { ...metadata, format: 'pt', content: 'optimizer', optimizer: optimizer.name, step: String(store.optimizerSteps) });
}

/**
 * Loads what `encodeOptimizerState` wrote into `store`, so training resumes where it stopped. The
 * optimizer must be of the same kind and the tensors must match the model's parameters: otherwise
 * nothing is written and the error lists every mismatch.
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
  for (const p of store.list) for (const key of optimizer.stateKeys) expected.set(`${p.name}.${torchName(key)}`, p.shape);
  checkCheckpoint(expected, tensors);
  for (const p of store.list) {
    for (const key of optimizer.stateKeys) store.writeState(key, p.name, tensors.get(`${p.name}.${torchName(key)}`)!.data);
  }
  store.setOptimizerSteps(step);
}
