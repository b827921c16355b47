import type { FileToWrite } from '../io/atomic_write.js';
import type { ParameterStore } from '../graph/params.js';
import type { GanTrainer } from '../train/gan.js';
import { encodeOptimizerState, runMetadata } from '../train/optimizer_checkpoint.js';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from '../train/safetensors.js';

/** Where `train --model gan --out FILE.safetensors` puts the rest of the run beside the generator. */
export function ganCheckpointPaths(out: string): { discriminator: string; generatorOptimizer: string; discriminatorOptimizer: string } {
  const base = out.replace(/\.safetensors$/, '');
  return {
    discriminator: `${base}.discriminator.safetensors`,
    generatorOptimizer: `${base}.optimizer.safetensors`,
    discriminatorOptimizer: `${base}.discriminator.optimizer.safetensors`,
  };
}

/**
 * The discriminator's weights and both networks' Adam state, named as the torch.nn.Sequential
 * equivalents name their parameters (without the stores' 'G.' and 'D.' prefixes), so that PyTorch
 * can resume the GAN where the CLI stopped. Each file carries its network's run id and step; the
 * discriminator's also the run's recipe (`ganRecipeMetadata`).
 */
export async function ganRunFiles(gan: GanTrainer, out: string, recipe: Record<string, string>): Promise<FileToWrite[]> {
  const paths = ganCheckpointPaths(out);
  const { generatorStore: g, discriminatorStore: d, options } = gan;
  const weights: NamedTensor[] = [];
  for (const p of d.stateDict) weights.push({ name: p.name.replace(/^D\./, ''), shape: p.shape, data: await d.read(p.name) });
  return [
    { path: paths.discriminator, data: encodeSafetensors(weights, { format: 'pt', model: 'discriminator', ...recipe, ...runMetadata(d) }) },
    { path: paths.generatorOptimizer, data: await unprefixedState(g, options.optimizerG, 'G.', 'generator') },
    { path: paths.discriminatorOptimizer, data: await unprefixedState(d, options.optimizerD, 'D.', 'discriminator') },
  ];
}

async function unprefixedState(store: ParameterStore, optimizer: GanTrainer['options']['optimizerG'], prefix: string, model: string): Promise<Uint8Array> {
  const { tensors, metadata } = decodeSafetensors(await encodeOptimizerState(store, optimizer, { model }));
  const renamed = [...tensors.values()].map((t) => ({ ...t, name: t.name.startsWith(prefix) ? t.name.slice(prefix.length) : t.name }));
  return encodeSafetensors(renamed, metadata);
}
