export { createEngine, Engine, type EngineOptions, type EngineInfo } from './gpu/engine.js';
export { MemoryTuneStore, type TuneStore } from './gpu/autotune.js';
export {
  WebGPUDLError,
  WebGPUUnavailableError,
  ShapeError,
  KernelError,
  DeviceLostError,
  DisposedError,
} from './gpu/errors.js';
export { Tensor, tensor, zeros, type DType } from './eager/tensor.js';
export { activation, activationGrad, relu, leakyRelu, sigmoid, tanh, gelu } from './eager/activation.js';
export type { Activation, ActivationSpec } from '../shaders/lib/activations.js';
