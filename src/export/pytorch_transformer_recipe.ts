import { RECIPE_KEY, checkAdamFields, parseRecipe, type AdamRecipe } from './pytorch_recipe.js';

/**
 * How `webgpu-dl train --model transformer --out` trained, recorded in the checkpoint's metadata
 * (key `recipe`, JSON) so that the exported train.py resumes with the same AdamW, clipping, batch
 * and nanoGPT schedule (linear warm-up, then cosine to `minLr` at `steps`).
 */
export interface TransformerRecipe {
  optimizer: AdamRecipe<'adamw'>;
  schedule: 'nanogpt';
  warmup: number;
  minLr: number;
  /** The run's length in steps; the cosine ends there. */
  steps: number;
  batch: number;
  /** Seeds the stream of training windows (and the initialisation). */
  seed: number;
  /** Gradients are clipped to this global norm before every update. */
  clipNorm: number;
  /** The UTF-8 text trained on (resolved path). */
  data?: string;
}

/** The metadata entry recording the character transformer's recipe. */
export function transformerRecipeMetadata(o: Omit<TransformerRecipe, 'schedule'>): Record<string, string> {
  const recipe: TransformerRecipe = { ...o, optimizer: { ...o.optimizer }, schedule: 'nanogpt' };
  return { [RECIPE_KEY]: JSON.stringify(recipe) };
}

/** The transformer recipe a checkpoint records, checked field by field. */
export function readTransformerRecipe(metadata: Record<string, string>, source: string): TransformerRecipe {
  const { recipe: r, bad } = parseRecipe<TransformerRecipe>(metadata, source, 'checkpoints of `webgpu-dl train --model transformer --out FILE` record it');
  checkAdamFields(r?.optimizer, 'adamw', bad);
  if (r.schedule !== 'nanogpt') throw bad('schedule', r.schedule, "'nanogpt'");
  for (const key of ['steps', 'batch'] as const) if (!(Number.isInteger(r[key]) && r[key] >= 1)) throw bad(key, r[key], 'a positive integer');
  for (const key of ['warmup', 'seed'] as const) if (!(Number.isInteger(r[key]) && r[key] >= 0)) throw bad(key, r[key], 'a non-negative integer');
  for (const key of ['minLr', 'clipNorm'] as const) if (!(typeof r[key] === 'number' && r[key] >= 0)) throw bad(key, r[key], 'a non-negative number');
  if (r.data !== undefined && typeof r.data !== 'string') throw bad('data', r.data, 'a file path');
  return r;
}
