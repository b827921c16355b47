import type { EngineInfo } from './open_device.js';

/** What a device offers a kernel configuration: its features and limits (as EngineInfo records them). */
export type DeviceCapabilities = Pick<EngineInfo, 'features' | 'limits'>;

/**
 * Why this device cannot use configuration `id` for `shapeClass` (an id this version does not know,
 * a feature it lacks, a workgroup over its limits), or undefined when it can. The kernel families
 * know their configurations; the autotuner, below them, is handed this (kernels/recorded_configs.ts).
 */
export type RecordedConfigCheck = (shapeClass: string, id: string, device: DeviceCapabilities) => string | undefined;

/** A recorded choice the autotuner did not take, and why. */
export interface DroppedKernel {
  shapeClass: string;
  id: string;
  reason: string;
}

/** What `Autotuner.adopt` did with recorded choices: those it will answer with, and those it dropped. */
export interface AdoptedKernels {
  adopted: Record<string, string>;
  dropped: DroppedKernel[];
}

/** Splits `choices` into those `check` lets this device use and those it refuses; all are kept without a check. */
export function sortRecordedChoices(choices: Readonly<Record<string, string>>, device: DeviceCapabilities, check?: RecordedConfigCheck): AdoptedKernels {
  const result: AdoptedKernels = { adopted: {}, dropped: [] };
  for (const [shapeClass, id] of Object.entries(choices)) {
    const reason = check?.(shapeClass, id, device);
    if (reason === undefined) result.adopted[shapeClass] = id;
    else result.dropped.push({ shapeClass, id, reason });
  }
  return result;
}

/**
 * The log line for recorded choices that were dropped: which, why, and what it costs. The shape
 * classes fall back to what this device's tuner picks, so the run goes on, but with other kernels
 * (another summation order), hence not bit for bit the run it continues.
 */
export function droppedKernelsLine(dropped: readonly DroppedKernel[]): string {
  const each = dropped.map((d) => `${d.shapeClass}: '${d.id}' (${d.reason})`).join('; ');
  return (
    `webgpu-dl: ${dropped.length} recorded kernel config${dropped.length === 1 ? '' : 's'} cannot be used on this device and ${dropped.length === 1 ? 'was' : 'were'} dropped: ${each}. ` +
    'Those shape classes use the configs this device picks, so the resumed run is not guaranteed to compute the same bits as an uninterrupted one.'
  );
}
