import { acquireAdapter } from './acquire.js';

/** What identifies the adapter and bounds the work on it. */
export interface EngineInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True when running on a software rasteriser (SwiftShader) rather than a GPU. */
  software: boolean;
  /** The device's features; `subgroups` among them lets the autotuner offer subgroup kernels. */
  features: string[];
  /**
   * Subgroup sizes the adapter reports (GPUAdapterInfo.subgroupMinSize / subgroupMaxSize), where it
   * has subgroups and reports them: 4 on SwiftShader, 32 on NVIDIA, 32 or 64 on AMD. Kernels are
   * written for any size WGSL allows (4 to 128); these say which sizes were exercised.
   */
  subgroupSizes?: { min: number; max: number };
  limits: {
    maxStorageBufferBindingSize: number;
    maxBufferSize: number;
    maxComputeWorkgroupStorageSize: number;
    maxComputeInvocationsPerWorkgroup: number;
    maxComputeWorkgroupSizeX: number;
    maxComputeWorkgroupSizeY: number;
    maxComputeWorkgroupsPerDimension: number;
    maxStorageBuffersPerShaderStage: number;
  };
}

export interface OpenedDevice {
  gpu: GPU;
  device: GPUDevice;
  info: EngineInfo;
}

const WANTED_FEATURES: GPUFeatureName[] = ['shader-f16', 'timestamp-query', 'subgroups' as GPUFeatureName];
const WANTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

/**
 * Acquires an adapter and a device with the adapter's full limits and the features the kernels can
 * use. Used by `createEngine` and again by `Engine.recover`, so a recovered engine asks for the
 * same device as the first one did.
 */
export async function openDevice(powerPreference: GPUPowerPreference | undefined, log: (message: string) => void): Promise<OpenedDevice> {
  const { gpu, adapter, software } = await acquireAdapter({ powerPreference }, log);
  const features = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  const requiredLimits: Record<string, number> = {};
  for (const name of WANTED_LIMITS) requiredLimits[name] = adapter.limits[name];
  const device = await adapter.requestDevice({ requiredFeatures: features, requiredLimits });
  const a = adapter.info;
  const description = a?.description ?? '';
  const info: EngineInfo = {
    vendor: a?.vendor ?? '',
    architecture: a?.architecture ?? '',
    device: a?.device ?? '',
    description,
    software: software || /swiftshader/i.test(`${a?.vendor} ${a?.architecture} ${description}`),
    features: [...device.features].sort(),
    ...subgroupSizes(device, a),
    limits: Object.fromEntries(WANTED_LIMITS.map((n) => [n, device.limits[n]])) as EngineInfo['limits'],
  };
  return { gpu, device, info };
}

function subgroupSizes(device: GPUDevice, info: GPUAdapterInfo | undefined): Pick<EngineInfo, 'subgroupSizes'> {
  const sizes = info as (GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number }) | undefined;
  const [min, max] = [sizes?.subgroupMinSize, sizes?.subgroupMaxSize];
  if (!device.features.has('subgroups') || typeof min !== 'number' || typeof max !== 'number') return {};
  return { subgroupSizes: { min, max } };
}
