/**
 * Base class of every error the engine raises on purpose. Each subclass states its `name` as a
 * literal: an application's minifier renames classes, so a name taken from the constructor
 * (`new.target.name`) would print as `t: …` in production.
 */
export class WebGPUDLError extends Error {
  override name = 'WebGPUDLError';
}

/** No WebGPU implementation or no adapter could be obtained. */
export class WebGPUUnavailableError extends WebGPUDLError {
  override name = 'WebGPUUnavailableError';
}

/** A shape, dtype or attribute given to an op does not fit; raised before anything reaches the GPU. */
export class ShapeError extends WebGPUDLError {
  override name = 'ShapeError';
}

/** The GPU rejected a kernel (WGSL compilation or pipeline validation). Names the kernel. */
export class KernelError extends WebGPUDLError {
  override name = 'KernelError';
  constructor(
    readonly kernel: string,
    detail: string,
  ) {
    super(`kernel '${kernel}': ${detail}`);
  }
}

/**
 * A kernel configuration named by id that is unknown (a matmul or conv config lookup, an eager op's
 * `config` option), or that this device cannot run: it lacks a feature the kernel enables, or the
 * kernel's workgroup is over its limits. Raised before anything is made, instead of a validation
 * error from pipeline creation.
 */
export class KernelConfigError extends KernelError {
  override name = 'KernelConfigError';
  constructor(
    kernel: string,
    /** The op given the configuration, e.g. 'matmul', 'conv2d_backward_filter'. */
    readonly op: string,
    /** The configuration id as given. */
    readonly config: string,
    detail: string,
  ) {
    super(kernel, detail);
  }
}

/** The device was lost (driver reset, tab backgrounded too long, destroy()). Every tensor on it is gone. */
export class DeviceLostError extends WebGPUDLError {
  override name = 'DeviceLostError';
  constructor(
    readonly reason: string,
    detail: string,
  ) {
    super(`GPU device lost (${reason}): ${detail || 'no detail given'}. Call engine.recover() (or create a new engine) and rebuild what was on the device; a Trainer with autoCheckpoint does this itself.`);
  }
}

/** A tensor, plan or engine was used after dispose(). */
export class DisposedError extends WebGPUDLError {
  override name = 'DisposedError';
}

/** Work was asked of an object already doing it, e.g. a second `fit` on a trainer that is fitting. */
export class BusyError extends WebGPUDLError {
  override name = 'BusyError';
}

/**
 * A training step produced a non-finite loss or gradient. `step` is the step within the fit
 * (1-based, counted over all epochs), `epoch` its epoch, `tensor` the first non-finite one:
 * 'loss', or the parameter whose gradient it is. The GPU applied no update from that step on,
 * so the parameters are the last finite ones.
 */
export class DivergenceError extends WebGPUDLError {
  override name = 'DivergenceError';
  constructor(
    readonly step: number,
    /** The epoch of that step, where the caller counts epochs (undefined for a step run by hand). */
    readonly epoch: number | undefined,
    readonly tensor: string,
    who: string,
  ) {
    const what = tensor === 'loss' ? 'the loss' : `the gradient of '${tensor}'`;
    super(
      `${who}: ${what} became non-finite (NaN or Inf) at step ${step}${epoch === undefined ? '' : ` (epoch ${epoch})`}; the parameters are those before that step. ` +
        "Lower the learning rate, clip gradients (clipNorm), check the data for NaN, or pass onNonFinite: 'skip' to skip such steps.",
    );
  }
}
