import type { ParameterStore } from '../graph/params.js';
import { KERNEL_CONFIGS_KEY, kernelConfigsJson } from '../gpu/tune_record.js';
import type { Optimizer } from '../optim/optimizers.js';
import { checkCheckpoint, CheckpointError, decodeSafetensors, encodeSafetensors, type NamedTensor } from './safetensors.js';

/**
 * The optimizer state of `store` as safetensors: for every trainable parameter `p` and every state
 * the optimizer keeps, a tensor `p.<state>` shaped as `p`, named as torch.optim names it
 * (`exp_avg`, `exp_avg_sq` for Adam and AdamW, `momentum_buffer` for SGD with momentum: the update
 * kernels keep the same recurrences); the update count t and the optimizer's name in the metadata
 * (`step`, `optimizer`), and the run id that the weights saved with it carry (see `runMetadata`).
 */
export async function encodeOptimizerState(store: ParameterStore, optimizer: Optimizer, metadata: Record<string, string> = {}): Promise<Uint8Array> {
  checkReserved(metadata, ['content', 'optimizer', ...PAIR_KEYS]);
  const tensors: NamedTensor[] = [];
  for (const key of optimizer.stateKeys) {
    const flat = await store.readState(key);
    for (const p of store.list) tensors.push({ name: `${p.name}.${key}`, shape: p.shape, data: flat.slice(p.offset, p.offset + p.size) });
  }
  return encodeSafetensors(tensors, { ...metadata, format: 'pt', content: 'optimizer', optimizer: optimizer.name, ...runMetadata(store) });
}

/**
 * Loads what `encodeOptimizerState` wrote into `store`, so the optimizer carries on where it
 * stopped. The optimizer must be of the same kind, the tensors must match the model's parameters
 * and be finite, and the file must pair with weights loaded just before (same run id and step):
 * otherwise nothing is written and the error says why.
 */
export function loadOptimizerState(store: ParameterStore, optimizer: Optimizer, bytes: Uint8Array, source = 'optimizer checkpoint'): void {
  const { tensors, metadata } = decodeSafetensors(bytes, { source, requireFinite: true });
  if (metadata.content !== 'optimizer') {
    throw new CheckpointError(`${source}: holds no optimizer state (its metadata lacks content=optimizer); load model weights with \`load\``);
  }
  if (metadata.optimizer !== optimizer.name) {
    throw new CheckpointError(`${source}: holds ${metadata.optimizer} state, but this model trains with ${optimizer.name}; use the same optimizer to resume`);
  }
  const step = Number(metadata.step);
  if (!(Number.isInteger(step) && step >= 0)) throw new CheckpointError(`${source}: the step count '${metadata.step}' is not a non-negative integer`);
  const expected = new Map<string, readonly number[]>();
  for (const key of optimizer.stateKeys) for (const p of store.list) expected.set(`${p.name}.${key}`, p.shape);
  checkCheckpoint(expected, tensors);
  const loaded = checkPairing(store, 'optimizer', metadata);
  for (const key of optimizer.stateKeys) for (const p of store.list) store.writeState(key, p.name, tensors.get(`${p.name}.${key}`)!.data);
  store.setOptimizerSteps(step);
  loaded();
}

/*
 * Pairing. A weights file and the optimizer file saved with it carry the same `run_id` (drawn once
 * per ParameterStore, so per Trainer) and `step` (the optimizer's update count when saved). Loading
 * one of a pair right after the other of a different run or step would resume Adam's moments on
 * weights they do not belong to, silently; it is refused instead. Files without these keys (from
 * PyTorch, say) are not checked. Once both halves of a pair are loaded the store takes their run id,
 * so a resumed run's checkpoints name the run they continue; weights alone start a new run.
 */

const PAIR_KEYS = ['run_id', 'step'] as const;
const runIds = new WeakMap<ParameterStore, string>();

/** The file of a pair loaded last, while its partner has not been loaded and no step has run since. */
interface PendingHalf {
  kind: 'weights' | 'optimizer';
  metadata: Record<string, string>;
  stepsWhenLoaded: number;
}
const pending = new WeakMap<ParameterStore, PendingHalf>();

/** `run_id` and `step` for a checkpoint of `store`, the same in its weights and optimizer files, and the `kernel_configs` its steps were compiled with. */
export function runMetadata(store: ParameterStore): { run_id: string; step: string; kernel_configs: string } {
  let id = runIds.get(store);
  if (!id) {
    // getRandomValues, unlike randomUUID, exists outside secure contexts too.
    id = Array.from(globalThis.crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
    runIds.set(store, id);
  }
  // The kernels the run's steps were compiled with ride along, so the run can be repeated bit for bit.
  return { run_id: id, step: String(store.optimizerSteps), [KERNEL_CONFIGS_KEY]: kernelConfigsJson(store.engine.tuner.choices) };
}

/** Makes `store`'s later checkpoints carry `runId`: for a run resumed from a checkpoint of that run. */
export function continueRun(store: ParameterStore, runId: string | undefined): void {
  if (runId !== undefined) runIds.set(store, runId);
}

/** Throws if `metadata` sets a key the checkpoint writer sets itself. */
export function checkReserved(metadata: Record<string, string>, keys: readonly string[]): void {
  // Every writer that checks also writes runMetadata, whose kernel_configs is the writer's too.
  const taken = [...keys, KERNEL_CONFIGS_KEY].filter((k) => k in metadata);
  if (taken.length) throw new CheckpointError(`checkpoint metadata: ${taken.map((k) => `'${k}'`).join(', ')} is set by the writer; choose another key`);
}

/**
 * Throws if a file of `kind` does not pair with the other half loaded just before it; otherwise
 * returns what to call once the file is loaded, which records it (or completes the pair).
 */
export function checkPairing(store: ParameterStore, kind: PendingHalf['kind'], metadata: Record<string, string>): () => void {
  const other = pending.get(store);
  const completes = other !== undefined && other.kind !== kind && other.stepsWhenLoaded === store.optimizerSteps;
  if (completes) {
    for (const key of PAIR_KEYS) {
      const [mine, theirs] = [metadata[key], other.metadata[key]];
      if (mine === undefined || theirs === undefined || mine === theirs) continue;
      const show = (m: Record<string, string>) => `run_id ${m.run_id ?? '(none)'}, step ${m.step ?? '(none)'}`;
      throw new CheckpointError(
        `the ${kind} file (${show(metadata)}) was not saved with the ${other.kind} file loaded before it (${show(other.metadata)}); ` +
          'load the weights and the optimizer state that one checkpoint wrote together',
      );
    }
  }
  return () => {
    if (!completes) {
      pending.set(store, { kind, metadata, stepsWhenLoaded: store.optimizerSteps });
      return;
    }
    pending.delete(store);
    // A whole pair loaded is a resumed run: its later checkpoints carry on under the same run id.
    continueRun(store, metadata.run_id ?? other.metadata.run_id);
  };
}
