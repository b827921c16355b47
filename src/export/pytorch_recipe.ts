import { WebGPUDLError } from '../gpu/errors.js';

/**
 * A checkpoint that cannot become a PyTorch training folder (no recorded recipe, a model the kit
 * does not train, no optimizer state beside it). Raised before anything is written.
 */
export class PyTorchExportError extends WebGPUDLError {
  override name = 'PyTorchExportError';
}

/** The Adam or AdamW settings a recipe records, in torch's terms (weightDecay decoupled for AdamW). */
export interface AdamRecipe<K extends 'adam' | 'adamw'> {
  kind: K;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/** What the recipe of every image run records of its length, batches, seed and images. */
export interface ImageRunRecipe {
  epochs: number;
  batch: number;
  /** Seeds the initialisation and the shuffles (and the augmentation, where recorded). */
  seed: number;
  /** [height, width] of the training images. */
  image: [number, number];
  /** Training used the first `limit` samples only. */
  limit?: number;
}

/**
 * How a classifier was trained, as `webgpu-dl train --out` records it in the checkpoint's metadata
 * (key `recipe`, JSON), so that the exported train.py resumes with the same optimizer settings,
 * batch and schedule.
 */
export interface TrainingRecipe extends ImageRunRecipe {
  optimizer: AdamRecipe<'adam'>;
  /** cosine anneals lr to 0 over `epochs` × ⌊samples / batch⌋ steps; constant keeps it. */
  schedule: 'cosine' | 'constant';
  /** The folder of IDX files trained on; absent for the built-in MNIST. */
  data?: string;
  /**
   * The random affine augmentation the engine applied (`train --augment`), recorded so that
   * train.py can say it trains on the images as they are (it has no equivalent of the GPU's).
   */
  augment?: Record<string, number>;
  /** The GAN's latent vector length (GAN runs only; both networks train with this recipe's Adam). */
  latent?: number;
}

export const RECIPE_KEY = 'recipe';

/** The ImageRunRecipe fields of `o`, in the order recipes record them (limit only where given). */
export function imageRunFields(o: ImageRunRecipe): ImageRunRecipe {
  return { epochs: o.epochs, batch: o.batch, seed: o.seed, image: o.image, ...(o.limit === undefined ? {} : { limit: o.limit }) };
}

/** The metadata entry recording the recipe of `train`'s classifiers (Adam with its default betas and eps). */
export function classifierRecipeMetadata(o: { lr: number; schedule: 'cosine' | 'constant'; epochs: number; batch: number; seed: number; image: [number, number]; limit?: number; data?: string; augment?: object }): Record<string, string> {
  // The CLI builds Adam({ lr }), so the other settings are Adam's defaults, which are torch's.
  const recipe: TrainingRecipe = {
    optimizer: { kind: 'adam', lr: o.lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 },
    schedule: o.schedule,
    ...imageRunFields(o),
    ...(o.data === undefined ? {} : { data: o.data }),
    ...(o.augment === undefined ? {} : { augment: { ...o.augment } as Record<string, number> }),
  };
  return { [RECIPE_KEY]: JSON.stringify(recipe) };
}

/** The metadata entry recording the recipe of `train --model gan` (Adam with beta1 0.5 for both networks, a constant rate). */
export function ganRecipeMetadata(o: { lr: number; epochs: number; batch: number; seed: number; image: [number, number]; latent: number; limit?: number; data?: string }): Record<string, string> {
  const recipe = JSON.parse(classifierRecipeMetadata({ ...o, schedule: 'constant' })[RECIPE_KEY]) as TrainingRecipe;
  return { [RECIPE_KEY]: JSON.stringify({ ...recipe, optimizer: { ...recipe.optimizer, beta1: 0.5 }, latent: o.latent }) };
}

/** Makes the error for a recipe field holding `value` where `want` was expected. */
export type BadRecipeField = (field: string, value: unknown, want: string) => PyTorchExportError;

/**
 * The recipe JSON of a checkpoint's metadata, unchecked, and the error maker for its fields.
 * `missingHint` says which runs record a recipe, for the error where there is none.
 */
export function parseRecipe<T>(metadata: Record<string, string>, source: string, missingHint: string): { recipe: T; bad: BadRecipeField } {
  const text = metadata[RECIPE_KEY];
  if (text === undefined) {
    throw new PyTorchExportError(`${source} records no training recipe (metadata '${RECIPE_KEY}'), so train.py could not resume it with the same settings; ${missingHint}`);
  }
  let recipe: T;
  try {
    recipe = JSON.parse(text) as T;
  } catch {
    throw new PyTorchExportError(`${source}: metadata '${RECIPE_KEY}' is not JSON: ${text.slice(0, 80)}`);
  }
  const bad: BadRecipeField = (field, value, want) => new PyTorchExportError(`${source}: recipe field ${field} is ${JSON.stringify(value)}; expected ${want}`);
  return { recipe, bad };
}

/** Checks the fields every image run's recipe has: epochs, batch, seed, image size and sample limit. */
export function checkImageRunFields(r: ImageRunRecipe, bad: BadRecipeField): void {
  for (const key of ['epochs', 'batch'] as const) if (!(Number.isInteger(r[key]) && r[key] >= 1)) throw bad(key, r[key], 'a positive integer');
  if (!(Number.isInteger(r.seed) && r.seed >= 0)) throw bad('seed', r.seed, 'a non-negative integer');
  if (!(Array.isArray(r.image) && r.image.length === 2 && r.image.every((n) => Number.isInteger(n) && n >= 1))) throw bad('image', r.image, '[height, width]');
  if (r.limit !== undefined && !(Number.isInteger(r.limit) && r.limit >= 1)) throw bad('limit', r.limit, 'a positive integer');
}

/** Checks a recipe's `optimizer` is of `kind` with lr, betas, eps and weight decay all non-negative numbers. */
export function checkAdamFields(o: Partial<AdamRecipe<'adam' | 'adamw'>> | undefined, kind: 'adam' | 'adamw', bad: BadRecipeField): void {
  if (o?.kind !== kind) throw bad('optimizer.kind', o?.kind, `'${kind}'`);
  for (const key of ['lr', 'beta1', 'beta2', 'eps', 'weightDecay'] as const) {
    const value = o[key];
    if (!(typeof value === 'number' && value >= 0)) throw bad(`optimizer.${key}`, value, 'a non-negative number');
  }
}

/** The recipe a checkpoint records, checked field by field. */
export function readRecipe(metadata: Record<string, string>, source: string): TrainingRecipe {
  const { recipe: r, bad } = parseRecipe<TrainingRecipe>(metadata, source, 'checkpoints of `webgpu-dl train --model mlp|cnn --out FILE` record it');
  checkAdamFields(r?.optimizer, 'adam', bad);
  if (r.schedule !== 'cosine' && r.schedule !== 'constant') throw bad('schedule', r.schedule, "'cosine' or 'constant'");
  checkImageRunFields(r, bad);
  if (r.latent !== undefined && !(Number.isInteger(r.latent) && r.latent >= 1)) throw bad('latent', r.latent, 'a positive integer');
  if (r.data !== undefined && typeof r.data !== 'string') throw bad('data', r.data, 'a folder path');
  return r;
}
