import type { Engine } from '../gpu/engine.js';
import { WebGPUDLError } from '../gpu/errors.js';
import { charTransformer, checkTransformerConfig, type CharTransformer, type TransformerConfig } from '../models/transformer.js';
import { loadModel, type Predictor } from './predictor.js';
import { CheckpointError, decodeSafetensors } from './safetensors.js';

/**
 * What a character transformer's checkpoint carries besides its weights: `model` = 'transformer',
 * `transformer` = its configuration as JSON, `vocab` = its characters as a JSON array (token i is
 * vocab[i]). Enough to rebuild the model and its tokenizer from the file alone.
 */
export function transformerMetadata(config: Required<TransformerConfig>, vocab: readonly string[]): Record<string, string> {
  return { model: 'transformer', transformer: JSON.stringify(config), vocab: JSON.stringify(vocab) };
}

/** A character transformer read back from its checkpoint: the model, its configuration and its vocabulary. */
export interface TransformerFile {
  config: Required<TransformerConfig>;
  vocab: string[];
  model: CharTransformer;
}

/** Rebuilds the model and vocabulary `transformerMetadata` describes; a CheckpointError names what is missing or wrong. */
export function transformerFromMetadata(metadata: Record<string, string>, source = 'checkpoint'): TransformerFile {
  if (metadata.model !== 'transformer' || metadata.transformer === undefined || metadata.vocab === undefined) {
    throw new CheckpointError(
      `${source}: not a character transformer checkpoint (its metadata has model=${metadata.model ?? '(none)'}${metadata.transformer === undefined ? ', no transformer configuration' : ''}${metadata.vocab === undefined ? ', no vocab' : ''}); use weights saved by \`webgpu-dl train --model transformer --out\``,
    );
  }
  let raw: unknown;
  let vocab: unknown;
  try {
    raw = JSON.parse(metadata.transformer);
    vocab = JSON.parse(metadata.vocab);
  } catch (e) {
    throw new CheckpointError(`${source}: the transformer configuration or vocab in the metadata is not JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(vocab) || !vocab.every((c) => typeof c === 'string' && Array.from(c).length === 1) || new Set(vocab).size !== vocab.length) {
    throw new CheckpointError(`${source}: the metadata's vocab must be a JSON array of distinct single characters`);
  }
  let config: Required<TransformerConfig>;
  try {
    config = checkTransformerConfig(raw as TransformerConfig);
  } catch (e) {
    if (!(e instanceof WebGPUDLError)) throw e;
    throw new CheckpointError(`${source}: the metadata's transformer configuration is invalid: ${e.message}`);
  }
  if (config.vocab !== vocab.length) throw new CheckpointError(`${source}: the configuration says vocab ${config.vocab}, but the metadata lists ${vocab.length} characters`);
  return { config, vocab, model: charTransformer(config) };
}

/**
 * Loads a checkpoint of `TextTrainer.checkpoint` (or `webgpu-dl train --model transformer --out`)
 * for inference: the model is rebuilt from the file's metadata, and the predictor takes u32 token
 * windows [count · context] and gives logits [count, context, vocab]. Dispose the predictor when done.
 */
export function loadCharTransformer(engine: Engine, bytes: Uint8Array, source = 'checkpoint'): TransformerFile & { predictor: Predictor } {
  if (!(bytes instanceof Uint8Array)) throw new CheckpointError(`loadCharTransformer: ${source} must be the file's bytes as a Uint8Array`);
  const { metadata } = decodeSafetensors(bytes, { source });
  const file = transformerFromMetadata(metadata, source);
  const predictor = loadModel(engine, bytes, file.model, { inputShape: [file.config.context], inputDType: 'u32', source });
  return { ...file, predictor };
}
