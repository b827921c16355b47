import type { Int8Tensor, NamedTensor } from '../train/safetensors.js';
import { SCALE_SUFFIX } from '../compress/quantize.js';
import { OnnxExportError } from './errors.js';
import { ONNX_BOOL, ONNX_FLOAT, ONNX_INT8, ONNX_INT64, type OnnxAttributeValue, type OnnxNode, type OnnxTensor } from './onnx_proto.js';

/** How int8 weights (from `quantizeStateDict`) are written: int8 with DequantizeLinear, or as f32. */
export type Int8Export = 'qdq' | 'dequantize';

/**
 * Collects the nodes and initializers of one exported graph. Layer lowerings ask it for weights
 * by their state-dict name and add nodes; it makes every value name unique.
 */
export class OnnxBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  private readonly names = new Set<string>();
  private readonly weightValues = new Map<string, string>();

  constructor(
    readonly opset: number,
    private readonly floats: ReadonlyMap<string, NamedTensor>,
    private readonly int8: ReadonlyMap<string, Int8Tensor>,
    /** The exported model's own path plus '.', taken off the layers' keys to give state-dict names. */
    private readonly prefix = '',
  ) {}

  /** A value name not used before, from `stem` (a layer path and an op). */
  fresh(stem: string): string {
    let name = stem;
    for (let i = 1; this.names.has(name); i++) name = `${stem}_${i}`;
    this.names.add(name);
    return name;
  }

  /** Adds a node with one output named after `stem`; returns that output's name. */
  node(opType: string, inputs: readonly string[], stem: string, attributes: Record<string, OnnxAttributeValue> = {}): string {
    const output = this.fresh(`${stem}/${opType}`);
    this.nodes.push({ opType, inputs, outputs: [output], name: output, attributes });
    return output;
  }

  /**
   * A layer's tensor (`key`: its path and the tensor's name) as a graph value, named by its
   * state-dict `name`. An F32 tensor is an initializer of that name; an int8 one (qdq) is an int8
   * initializer `name_quantized` and its per-output-channel scales `name_scale`, dequantised by a
   * DequantizeLinear node (axis 0) whose output carries `name`.
   */
  weight(key: string): string {
    const name = key.startsWith(this.prefix) ? key.slice(this.prefix.length) : key;
    const known = this.weightValues.get(name);
    if (known) return known;
    const q = this.int8.get(name);
    const t = this.floats.get(name);
    let value: string;
    if (q) {
      const scale = this.floats.get(name + SCALE_SUFFIX)!;
      const codes = this.fresh(`${name}_quantized`);
      this.initializers.push({ name: codes, dims: q.shape, dataType: ONNX_INT8, raw: bytesOf(q.data) });
      const scales = this.fresh(scale.name);
      this.initializers.push({ name: scales, dims: scale.shape, dataType: ONNX_FLOAT, raw: bytesOf(scale.data) });
      value = this.fresh(name);
      this.nodes.push({ opType: 'DequantizeLinear', inputs: [codes, scales], outputs: [value], name: value, attributes: { axis: 0 } });
    } else if (t) {
      value = this.fresh(name);
      this.initializers.push({ name: value, dims: t.shape, dataType: ONNX_FLOAT, raw: bytesOf(t.data) });
    } else {
      throw new OnnxExportError(`exportOnnx: the weights have no tensor '${name}'`);
    }
    this.weightValues.set(name, value);
    return value;
  }

  /** An f32 constant (a scalar when `dims` is []). */
  constant(stem: string, dims: readonly number[], values: readonly number[]): string {
    const name = this.fresh(stem);
    this.initializers.push({ name, dims, dataType: ONNX_FLOAT, raw: bytesOf(Float32Array.from(values)) });
    return name;
  }

  /** An int64 constant, such as a Reshape target shape (a vector unless `dims` says otherwise). */
  int64Constant(stem: string, values: readonly number[], dims: readonly number[] = [values.length]): string {
    const name = this.fresh(stem);
    this.initializers.push({ name, dims, dataType: ONNX_INT64, raw: bytesOf(BigInt64Array.from(values, (v) => BigInt(v))) });
    return name;
  }

  /** A boolean constant, such as an attention mask. */
  boolConstant(stem: string, dims: readonly number[], values: readonly boolean[]): string {
    const name = this.fresh(stem);
    this.initializers.push({ name, dims, dataType: ONNX_BOOL, raw: Uint8Array.from(values, (v) => (v ? 1 : 0)) });
    return name;
  }

  /** Renames the value `from` (a node's output) to `to` wherever it appears. */
  renameOutput(from: string, to: string): void {
    const rename = (v: string) => (v === from ? to : v);
    for (const n of this.nodes) {
      n.outputs = n.outputs.map(rename);
      n.inputs = n.inputs.map(rename);
    }
    this.names.add(to);
  }
}

function bytesOf(a: Float32Array | Int8Array | BigInt64Array): Uint8Array {
  // The host is little-endian (WebGPU and every engine platform), as ONNX raw_data requires.
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
