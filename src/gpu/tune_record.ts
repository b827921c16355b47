import { KernelError } from './errors.js';

/**
 * The checkpoint metadata key that records the kernel configurations a run used: a JSON object
 * from shape class to configuration id (`Autotuner.choices`). Passing it to `Autotuner.adopt` on a
 * new engine makes its compiles use the same kernels, hence the same bits.
 */
export const KERNEL_CONFIGS_KEY = 'kernel_configs';

/** `choices` as the metadata value: JSON with the shape classes sorted, so equal runs write equal text. */
export function kernelConfigsJson(choices: Readonly<Record<string, string>>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(choices).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
}

/**
 * The kernel configurations recorded in a checkpoint's metadata (undefined when it has none, as
 * files from PyTorch or older versions), checked to be a JSON object of strings.
 */
export function readKernelConfigs(metadata: Readonly<Record<string, string>>, source = 'checkpoint'): Record<string, string> | undefined {
  const text = metadata[KERNEL_CONFIGS_KEY];
  if (text === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new KernelError(KERNEL_CONFIGS_KEY, `${source}: metadata '${KERNEL_CONFIGS_KEY}' is not JSON; it should be an object from shape class to configuration id`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed) || !Object.values(parsed).every((v) => typeof v === 'string')) {
    throw new KernelError(KERNEL_CONFIGS_KEY, `${source}: metadata '${KERNEL_CONFIGS_KEY}' should be a JSON object from shape class to configuration id (strings)`);
  }
  return { ...(parsed as Record<string, string>) };
}
