import { outputPathProblem } from '../io/atomic_write.js';
import { UsageError } from './options.js';

/**
 * Refuses, before any data is loaded or any step trained, output paths that could not be written
 * at the end (a missing or read-only folder, a folder or device in the file's place).
 */
export async function checkOutputPaths(paths: readonly string[], flag = '--out'): Promise<void> {
  for (const path of paths) {
    const problem = await outputPathProblem(path);
    if (problem) throw new UsageError(`${flag} ${path}: ${problem}`);
  }
}

/** Where `train --model gan --out FILE.safetensors` puts its grid of samples: FILE.png. */
export function samplesPath(out: string): string {
  return `${out.replace(/\.safetensors$/, '')}.png`;
}

/** Where `train --out FILE.safetensors` puts the optimizer state: FILE.optimizer.safetensors. */
export function optimizerPath(out: string): string {
  return `${out.replace(/\.safetensors$/, '')}.optimizer.safetensors`;
}
