import { WebGPUUnavailableError } from './errors.js';

/** The WebGPU entry point and adapter. In Node, dropping every reference to `gpu` lets the process exit. */
export interface AcquiredAdapter {
  gpu: GPU;
  adapter: GPUAdapter;
  /** True when the adapter was found only after pointing Vulkan at a software driver. */
  software: boolean;
}

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

function isNode(): boolean {
  return typeof process !== 'undefined' && !!process.versions?.node;
}

/**
 * Finds a WebGPU implementation and an adapter: `navigator.gpu` in a browser, the `webgpu`
 * package (Dawn) in Node. In Node, a machine without a hardware Vulkan driver often still has
 * Chromium's SwiftShader, so we retry with it and say so once.
 */
export async function acquireAdapter(
  options: GPURequestAdapterOptions,
  log: (message: string) => void,
): Promise<AcquiredAdapter> {
  const nav = (globalThis as { navigator?: Navigator }).navigator;
  if (nav?.gpu) {
    const adapter = await nav.gpu.requestAdapter(options);
    if (!adapter) {
      throw new WebGPUUnavailableError(
        'WebGPU is present but no GPU adapter was found. In Chrome, check chrome://gpu; on Linux start ' +
          'Chrome with --enable-unsafe-webgpu (and --enable-features=Vulkan), or update the GPU driver.',
      );
    }
    return { gpu: nav.gpu, adapter, software: false };
  }
  if (!isNode()) {
    throw new WebGPUUnavailableError(
      'This browser has no WebGPU (navigator.gpu is missing). Use Chrome or Edge 113+, serve the page ' +
        'over https:// or http://localhost (WebGPU needs a secure context), or enable it in chrome://flags.',
    );
  }
  return acquireNodeAdapter(options, log);
}

/**
 * The process's one WebGPU instance in Node, as a page has one `navigator.gpu`, made on the first
 * request and kept. An instance made per engine (or per recovered device) is collected when the
 * engine lets go of it, and Dawn may still process events of its devices then (a pipeline
 * compiling on a lost device, a map): it does so on the freed instance, and the process crashes
 * natively (`std::system_error`, a futex error or a segmentation fault in InstanceBase::ProcessEvents).
 */
let nodeGpu: { gpu: GPU; software: boolean } | undefined;

async function acquireNodeAdapter(
  options: GPURequestAdapterOptions,
  log: (message: string) => void,
): Promise<AcquiredAdapter> {
  let dawn: typeof import('webgpu');
  try {
    dawn = await import('webgpu');
  } catch (cause) {
    throw new WebGPUUnavailableError(
      `Node has no WebGPU: the 'webgpu' package could not be loaded (${(cause as Error).message}). ` +
        'Install it with `npm install webgpu`.',
    );
  }
  Object.assign(globalThis, dawn.globals);
  let gpu = nodeGpu?.gpu ?? dawn.create([]);
  let adapter = await gpu.requestAdapter(options);
  let software = nodeGpu?.software ?? false;
  if (!adapter && !process.env.VK_ICD_FILENAMES && (await fileExists(SWIFTSHADER_ICD))) {
    // The Vulkan loader reads VK_ICD_FILENAMES when an instance is made, so a fresh create() sees it.
    process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
    gpu = dawn.create([]);
    adapter = await gpu.requestAdapter(options);
    software = !!adapter;
    if (software) log(`webgpu-dl: no hardware GPU adapter found; using the SwiftShader software adapter (${SWIFTSHADER_ICD}).`);
  }
  if (!adapter) {
    throw new WebGPUUnavailableError(
      'No WebGPU adapter found in Node. The webgpu package needs a Vulkan driver: install your GPU ' +
        "vendor's Vulkan driver and `libvulkan1`, or on Debian `apt-get install chromium libvulkan1` for " +
        `the SwiftShader software driver (found at ${SWIFTSHADER_ICD}).`,
    );
  }
  nodeGpu = { gpu, software };
  return { gpu, adapter, software };
}

async function fileExists(path: string): Promise<boolean> {
  const fs = await import('node:fs');
  return fs.existsSync(path);
}
