import { WebGPUDLError } from '../gpu/errors.js';

/**
 * A model or an option that cannot be exported (a layer with no ONNX lowering, an opset out of
 * range, an input shape that is not a shape). Raised before any bytes are written.
 */
export class OnnxExportError extends WebGPUDLError {
  override name = 'OnnxExportError';
}
