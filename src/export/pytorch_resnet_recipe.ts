import { PyTorchExportError, RECIPE_KEY, checkImageRunFields, imageRunFields, parseRecipe, type ImageRunRecipe } from './pytorch_recipe.js';

/**
 * How `webgpu-dl train --model resnet --out` trained, recorded in the checkpoint's metadata (key
 * `recipe`, JSON) so that the exported train.py resumes with the same SGD (Nesterov momentum, L2
 * weight decay on every parameter), batch, cosine schedule and augmentation.
 */
export interface ResnetRecipe extends ImageRunRecipe {
  optimizer: { kind: 'sgd'; lr: number; momentum: number; dampening: number; nesterov: boolean; weightDecay: number };
  /** The rate anneals from `lr` to 0 by cosine over `epochs` × ⌊samples / batch⌋ steps. */
  schedule: 'cosine';
  /** The CIFAR-10 folder or tar.gz (or image folder) trained on, resolved. */
  data?: string;
  /** How `data` was read: CIFAR-10's binary version (the kit's reader) or a folder of class folders. */
  format?: 'cifar-binary' | 'image-folder';
  /** The augmentation the engine applied to training images (absent: none). */
  augment?: Record<string, number | boolean>;
  /**
   * The per-channel pixel normalisation, (byte/255 − mean[c]) / std[c], computed by the CLI from
   * the training images; train.py uses these numbers rather than recomputing them.
   */
  normalisation: { mean: number[]; std: number[] };
}

/** The metadata entry recording a ResNet run's recipe. */
export function resnetRecipeMetadata(o: Omit<ResnetRecipe, 'schedule' | 'optimizer'> & { optimizer: Omit<ResnetRecipe['optimizer'], 'kind'> }): Record<string, string> {
  const recipe: ResnetRecipe = {
    optimizer: { kind: 'sgd', ...o.optimizer },
    schedule: 'cosine',
    ...imageRunFields(o),
    ...(o.data === undefined ? {} : { data: o.data }),
    ...(o.format === undefined ? {} : { format: o.format }),
    ...(o.augment === undefined ? {} : { augment: { ...o.augment } }),
    normalisation: { mean: [...o.normalisation.mean], std: [...o.normalisation.std] },
  };
  return { [RECIPE_KEY]: JSON.stringify(recipe) };
}

/** The ResNet recipe a checkpoint records, checked field by field. */
export function readResnetRecipe(metadata: Record<string, string>, source: string): ResnetRecipe {
  const { recipe: r, bad } = parseRecipe<ResnetRecipe>(
    metadata,
    source,
    'checkpoints of `webgpu-dl train --model resnet --out FILE` record it (retrain, or serve this one with --format onnx)',
  );
  const o = r?.optimizer;
  if (o?.kind !== 'sgd') throw bad('optimizer.kind', o?.kind, "'sgd'");
  for (const key of ['lr', 'momentum', 'dampening', 'weightDecay'] as const) if (!(typeof o[key] === 'number' && o[key] >= 0)) throw bad(`optimizer.${key}`, o[key], 'a non-negative number');
  if (typeof o.nesterov !== 'boolean') throw bad('optimizer.nesterov', o.nesterov, 'true or false');
  if (r.schedule !== 'cosine') throw bad('schedule', r.schedule, "'cosine'");
  checkImageRunFields(r, bad);
  if (r.data !== undefined && typeof r.data !== 'string') throw bad('data', r.data, 'a folder or file path');
  if (r.format === 'image-folder') {
    throw new PyTorchExportError(
      `${source}: the run read an image folder (${r.data ?? 'class folders'}); the PyTorch kit reads CIFAR-10's binary version only (it has no image decoder). ` +
        'Train on CIFAR-10 binary files (make-color-mnist writes a dataset as such), or serve this checkpoint with --format onnx',
    );
  }
  if (r.format !== undefined && r.format !== 'cifar-binary') throw bad('format', r.format, "'cifar-binary' or 'image-folder'");
  const n = r.normalisation;
  const positive = (v: unknown) => Array.isArray(v) && v.length >= 1 && v.every((x) => typeof x === 'number' && Number.isFinite(x));
  if (!(n && positive(n.mean) && positive(n.std) && n.mean.length === n.std.length && n.std.every((s) => s > 0))) {
    throw bad('normalisation', n, '{ mean: [per channel], std: [per channel, > 0] } of equal lengths');
  }
  return r;
}
