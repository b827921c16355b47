/** Base class of every error the engine raises on purpose. */
export class WebGPUDLError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** No WebGPU implementation or no adapter could be obtained. */
export class WebGPUUnavailableError extends WebGPUDLError {}

/** A shape, dtype or attribute given to an op does not fit; raised before anything reaches the GPU. */
export class ShapeError extends WebGPUDLError {}

/** The GPU rejected a kernel (WGSL compilation or pipeline validation). Names the kernel. */
export class KernelError extends WebGPUDLError {
  constructor(
    readonly kernel: string,
    detail: string,
  ) {
    super(`kernel '${kernel}': ${detail}`);
  }
}

/** The device was lost (driver reset, tab backgrounded too long, destroy()). Every tensor on it is gone. */
export class DeviceLostError extends WebGPUDLError {
  constructor(
    readonly reason: string,
    detail: string,
  ) {
    super(`GPU device lost (${reason}): ${detail || 'no detail given'}. Create a new engine to continue.`);
  }
}

/** A tensor, plan or engine was used after dispose(). */
export class DisposedError extends WebGPUDLError {}
