import { transformerFromMetadata, type TransformerFile } from '../train/text_checkpoint.js';
import { PyTorchExportError, readRecipe, type TrainingRecipe } from './pytorch_recipe.js';
import { readResnetRecipe } from './pytorch_resnet_recipe.js';
import { readTransformerRecipe } from './pytorch_transformer_recipe.js';

/** The Python files every kit ships, as they are in the package's scripts/ folder. */
export const KIT_SOURCES = ['kit/train.py', 'kit/gan.py', 'kit/text.py', 'kit/resnet.py', 'kit/cifar.py', 'kit/philox.py', 'kit/model.py', 'kit/checkpoint_io.py', 'torch_models.py', 'train_pytorch.py'] as const;
const README_TEMPLATE = 'kit/README.md';
const TRANSFORMER_README_TEMPLATE = 'kit/README.transformer.md';
const RESNET_README_TEMPLATE = 'kit/README.resnet.md';

/** A model's sizes as model.py builds it. */
export interface KitConfig {
  hidden?: number[];
  /** A GAN's latent vector length. */
  latent?: number;
  height: number;
  width: number;
  classes?: number;
}

export interface TorchKitInput {
  /** The checkpoint's weights and its optimizer state, as `train --out` wrote them. */
  weights: Uint8Array;
  optimizerState: Uint8Array;
  weightsMetadata: Record<string, string>;
  optimizerMetadata: Record<string, string>;
  shapes: ReadonlyMap<string, readonly number[]>;
  source: string;
  /** The IDX folder for the README's commands when the recipe names none (the built-in MNIST's). */
  defaultData?: string;
  /** A GAN run (the weights above are the generator's): the discriminator's weights and Adam state. */
  gan?: { weights: Uint8Array; optimizerState: Uint8Array; weightsMetadata: Record<string, string>; optimizerMetadata: Record<string, string>; source: string };
}

/**
 * The files of a folder that continues a CLI classifier run in PyTorch: the weights and optimizer
 * state, kit.json (model configuration, recipe), train.py, model.py and their helpers copied from
 * the package's scripts/, and a README with the commands. Names are relative to the folder.
 */
export async function torchKitFiles(k: TorchKitInput): Promise<{ name: string; data: Uint8Array }[]> {
  const recorded = k.weightsMetadata.model;
  if (recorded === 'transformer') return kitFolder(k, transformerKit(k), TRANSFORMER_README_TEMPLATE);
  if (recorded === 'resnet') return kitFolder(k, resnetKit(k), RESNET_README_TEMPLATE);
  if (recorded !== 'mlp' && recorded !== 'cnn' && !(recorded === 'generator' && k.gan)) {
    throw new PyTorchExportError(`${k.source} records model '${recorded ?? '(none)'}'; --format pytorch continues mlp, cnn, resnet, transformer and gan runs of \`webgpu-dl train\` (use --format onnx to serve other models)`);
  }
  const kind = recorded === 'generator' ? 'gan' : recorded;
  checkOptimizer(k, 'adam');
  const recipe = k.gan ? readRecipe(k.gan.weightsMetadata, k.gan.source) : readRecipe(k.weightsMetadata, k.source);
  if (k.gan) checkOptimizer(k.gan, 'adam');
  const config = kind === 'gan' ? ganConfig(recipe, k.shapes, k.source) : kitConfig(kind, recipe, k.shapes, k.source);
  const step = Number(k.optimizerMetadata.step);
  const values = { model: kind, step: String(step), data: recipe.data ?? k.defaultData ?? 'DIR', batch: String(recipe.batch), lr: String(recipe.optimizer.lr), schedule: recipe.schedule, epochs: String(recipe.epochs) };
  return kitFolder(k, { kit: { model: kind, config, recipe }, values }, README_TEMPLATE);
}

/** What kit.json says of the model and its recipe, and the values the README template names. */
interface KitDescription {
  kit: { model: string; config: unknown; recipe: unknown; vocab?: string[] };
  values: Record<string, string>;
}

/** The folder's files: the checkpoint, kit.json, the Python sources and the README rendered from `template`. */
async function kitFolder(k: TorchKitInput, d: KitDescription, template: string): Promise<{ name: string; data: Uint8Array }[]> {
  const step = Number(k.optimizerMetadata.step);
  const discriminator = { discriminator: 'discriminator.safetensors', discriminatorOptimizerState: 'discriminator.optimizer.safetensors' };
  const kit = { ...d.kit, weights: 'weights.safetensors', optimizerState: 'optimizer.safetensors', ...(k.gan ? discriminator : {}), step };
  const text = new TextEncoder();
  const scripts = await scriptsFolder();
  const { readFile } = await import('node:fs/promises');
  const { join, basename } = await import('node:path');
  const sources = await Promise.all(KIT_SOURCES.map(async (s) => ({ name: basename(s), data: new Uint8Array(await readFile(join(scripts, s))) })));
  const readme = renderReadme(await readFile(join(scripts, template), 'utf8'), d.values);
  return [
    { name: 'weights.safetensors', data: k.weights },
    { name: 'optimizer.safetensors', data: k.optimizerState },
    ...(k.gan ? [{ name: discriminator.discriminator, data: k.gan.weights }, { name: discriminator.discriminatorOptimizerState, data: k.gan.optimizerState }] : []),
    { name: 'kit.json', data: text.encode(`${JSON.stringify(kit, null, 2)}\n`) },
    ...sources,
    { name: 'README.md', data: text.encode(readme) },
  ];
}

/** A character transformer's kit: its configuration and vocabulary from the metadata, AdamW's recipe. */
function transformerKit(k: TorchKitInput): KitDescription {
  checkOptimizer(k, 'adamw');
  let file: TransformerFile;
  try {
    file = transformerFromMetadata(k.weightsMetadata, k.source);
  } catch (e) {
    throw new PyTorchExportError((e as Error).message);
  }
  const recipe = readTransformerRecipe(k.weightsMetadata, k.source);
  const values = { model: 'transformer', step: k.optimizerMetadata.step, data: recipe.data ?? 'FILE.txt', batch: String(recipe.batch), lr: String(recipe.optimizer.lr), steps: String(recipe.steps) };
  return { kit: { model: 'transformer', config: file.config, vocab: file.vocab, recipe }, values };
}

const OPTIMIZER_NAMES = { adam: 'Adam', adamw: 'AdamW', sgd: 'SGD with momentum' } as const;

/**
 * A CIFAR ResNet's kit: its configuration from the metadata (checked against the weights' shapes),
 * SGD's recipe with the per-channel normalisation and augmentation the run used.
 */
function resnetKit(k: TorchKitInput): KitDescription {
  checkOptimizer(k, 'sgd');
  const recipe = readResnetRecipe(k.weightsMetadata, k.source);
  let c: { depth: number; width: number; classes: number; channels: number; classNames?: string[] };
  try {
    c = JSON.parse(k.weightsMetadata.config ?? '');
  } catch {
    throw new PyTorchExportError(`${k.source}: metadata 'config' (the ResNet's depth, width, classes and channels) is missing or not JSON`);
  }
  const want = (name: string, shape: readonly number[]) => {
    const got = k.shapes.get(name);
    if (!got || got.join() !== shape.join()) throw new PyTorchExportError(`${k.source}: '${name}' is ${got ? `[${got.join(', ')}]` : 'missing'}; the recorded ResNet-${c.depth} (width ${c.width}, ${c.channels} channels, ${c.classes} classes) has [${shape.join(', ')}]`);
  };
  want('conv1.weight', [c.width, c.channels, 3, 3]);
  want('fc.weight', [c.classes, 4 * c.width]);
  if (recipe.normalisation.mean.length !== c.channels) throw new PyTorchExportError(`${k.source}: the recipe normalises ${recipe.normalisation.mean.length} channels; the model takes ${c.channels}`);
  const config = { depth: c.depth, width: c.width, classes: c.classes, channels: c.channels, image: recipe.image, ...(c.classNames ? { classNames: c.classNames } : {}) };
  const values = { model: 'resnet', step: k.optimizerMetadata.step, data: recipe.data ?? 'DIR_OR_TARGZ', batch: String(recipe.batch), lr: String(recipe.optimizer.lr), epochs: String(recipe.epochs), weightDecay: String(recipe.optimizer.weightDecay) };
  return { kit: { model: 'resnet', config, recipe }, values };
}

function checkOptimizer(k: Pick<TorchKitInput, 'optimizerMetadata' | 'weightsMetadata' | 'source'>, kind: keyof typeof OPTIMIZER_NAMES): void {
  const m = k.optimizerMetadata;
  if (m.content !== 'optimizer' || m.optimizer !== kind) {
    throw new PyTorchExportError(`the optimizer state beside ${k.source} holds ${m.content === 'optimizer' ? `${m.optimizer} state` : 'no optimizer state'}; train.py resumes ${OPTIMIZER_NAMES[kind]}, as \`webgpu-dl train\` saves it for this model`);
  }
  for (const key of ['run_id', 'step']) {
    if (m[key] !== k.weightsMetadata[key]) {
      throw new PyTorchExportError(`${k.source} (${key} ${k.weightsMetadata[key]}) and its optimizer state (${key} ${m[key]}) were not saved together; give the pair one \`train --out\` wrote`);
    }
  }
}

/** A GAN's sizes: the latent length the recipe records, checked against the generator's first and last layers. */
function ganConfig(recipe: TrainingRecipe, shapes: ReadonlyMap<string, readonly number[]>, source: string): KitConfig {
  const [height, width] = recipe.image;
  const latent = recipe.latent;
  const want = (name: string, shape: readonly number[]) => {
    const got = shapes.get(name);
    if (!got || got.join() !== shape.join()) throw new PyTorchExportError(`${source}: generator '${name}' is ${got ? `[${got.join(', ')}]` : 'missing'}; the recorded GAN (latent ${latent}, ${height}×${width} images) has [${shape.join(', ')}]`);
  };
  if (latent === undefined) throw new PyTorchExportError(`${source}: the GAN's recipe records no latent length`);
  want('0.weight', [256, latent]);
  want('4.weight', [height * width, 512]);
  return { latent, height, width };
}

/** The model's sizes from its weights' shapes and the recipe's image size. */
function kitConfig(kind: 'mlp' | 'cnn', recipe: TrainingRecipe, shapes: ReadonlyMap<string, readonly number[]>, source: string): KitConfig {
  const [height, width] = recipe.image;
  const outputs = (name: string, inputs: number) => {
    const shape = shapes.get(name);
    if (!shape || shape.length !== 2 || shape[1] !== inputs) throw new PyTorchExportError(`${source}: '${name}' is ${shape ? `[${shape.join(', ')}]` : 'missing'}; a ${kind} on ${height}×${width} images has it [outputs, ${inputs}]`);
    return shape[0];
  };
  if (kind === 'cnn') return { height, width, classes: outputs('8.weight', outputs('6.weight', 64 * Math.floor((height - 4) / 2) * Math.floor((width - 4) / 2))) };
  const widths: number[] = [];
  let inputs = height * width;
  for (let i = 1; i === 1 || shapes.has(`${i}.weight`); i += 2) widths.push((inputs = outputs(`${i}.weight`, inputs)));
  return { hidden: widths.slice(0, -1), height, width, classes: widths[widths.length - 1] };
}

function renderReadme(template: string, values: Record<string, string>): string {
  return template.replace(/\{\{(\w+)\}\}/g, (all, key: string) => values[key] ?? all);
}

/** The package's scripts/ folder (beside src/ in a checkout, beside dist/ in the npm package). */
async function scriptsFolder(): Promise<string> {
  const { existsSync } = await import('node:fs');
  const { dirname, join } = await import('node:path');
  const { fileURLToPath } = await import('node:url');
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 4; up++, dir = dirname(dir)) {
    if (existsSync(join(dir, 'scripts', 'kit', 'train.py'))) return join(dir, 'scripts');
  }
  throw new PyTorchExportError(`the PyTorch kit's sources (scripts/kit/train.py) are missing from the webgpu-dl installation near ${fileURLToPath(import.meta.url)}; reinstall the package`);
}
