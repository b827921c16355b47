import { dequantizeStateDict } from '../compress/quantize.js';
import type { Engine } from '../gpu/engine.js';
import { createGraph } from '../graph/graph.js';
import { ParameterStore } from '../graph/params.js';
import { Sequential } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import { checkCheckpoint, checkFinite, decodeSafetensors, type Int8Tensor, type NamedTensor } from '../train/safetensors.js';
import { OnnxExportError } from './errors.js';
import { OnnxBuilder, type Int8Export } from './onnx_builder.js';
import { ONNX_LOWERINGS } from './onnx_layers.js';
import type { OnnxValue } from './onnx_lowering.js';
import { encodeOnnxModel, ONNX_FLOAT, ONNX_INT64 } from './onnx_proto.js';

/** Opsets `exportOnnx` writes: 13 has per-channel DequantizeLinear; 21 is the newest tested. */
export const ONNX_OPSET_RANGE = { min: 13, max: 21, default: 17 } as const;

/** The graph's input and output names; the batch dimension of both is the symbol 'N'. */
export const ONNX_INPUT = 'input';
/** The name of the exported graph's output. */
export const ONNX_OUTPUT = 'output';

/** Options of `exportOnnx`. */
export interface OnnxExportOptions {
  /** One sample's shape, without the batch dimension: [784] for the MNIST MLP, [1, 28, 28] for the CNN, [T] for token ids. */
  inputShape: readonly number[];
  /**
   * The input's dtype in the engine: 'f32' (default), or 'u32' for token ids into an Embedding, which
   * the ONNX model takes as int64 (the index type of Gather). ONNX Runtime rejects an id outside the
   * table, where the engine gives a row of zeros and counts it.
   */
  inputDtype?: 'f32' | 'u32';
  /**
   * The model's state dict: safetensors bytes (`await trainer.checkpoint()`, a PyTorch state_dict
   * saved as safetensors, or the int8 file of `webgpu-dl compress --quantize`), or its tensors.
   * Every parameter and buffer of the model must be there with its shape, and nothing else.
   */
  weights: Uint8Array | Iterable<NamedTensor | Int8Tensor>;
  /** ONNX operator set, 13 to 21 (default 17). GELU is the Gelu operator from 20, an Erf composition before. */
  opset?: number;
  /**
   * int8 weights (with their `_scale` tensors): 'qdq' (default) keeps them int8 in the file, each
   * dequantised in the graph by DequantizeLinear (per output channel, axis 0), which computes
   * exactly the f32 weights `dequantizeStateDict` gives; 'dequantize' writes those f32 weights.
   * Activations are not quantised either way: the arithmetic is f32.
   */
  int8?: Int8Export;
  /** Extra key/value pairs for the model's metadata_props. */
  metadata?: Record<string, string>;
}

/**
 * `model` in evaluation mode (Dropout the identity, BatchNorm with its running statistics) as an
 * ONNX model: the bytes of a `.onnx` file for ONNX Runtime (onnxruntime-node, onnxruntime-web) or
 * any ONNX consumer. Input 'input' is [N, ...inputShape] float32 (int64 token ids with
 * `inputDtype: 'u32'`) with a dynamic batch N; output 'output' is what the model's forward returns
 * (logits for the classifiers). Weights are initializers named by their state-dict keys. No GPU is
 * needed.
 *
 * Each layer is lowered by its entry in ONNX_LOWERINGS; a layer with none (a custom Module, or a
 * container other than Sequential) is an OnnxExportError naming it. Shapes are checked by the
 * layers themselves, as when the model is compiled.
 */
export function exportOnnx(model: Module, options: OnnxExportOptions): Uint8Array {
  const opset = options.opset ?? ONNX_OPSET_RANGE.default;
  if (!Number.isInteger(opset) || opset < ONNX_OPSET_RANGE.min || opset > ONNX_OPSET_RANGE.max) {
    throw new OnnxExportError(`exportOnnx: opset ${opset} is not supported; use an integer from ${ONNX_OPSET_RANGE.min} to ${ONNX_OPSET_RANGE.max} (default ${ONNX_OPSET_RANGE.default})`);
  }
  const inputShape = options.inputShape;
  if (!Array.isArray(inputShape) || !inputShape.length || !inputShape.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new OnnxExportError(`exportOnnx: inputShape ${JSON.stringify(inputShape)} must be one sample's shape, positive integers without the batch dimension (e.g. [784] or [1, 28, 28])`);
  }
  const inputDtype = options.inputDtype ?? 'f32';
  if (inputDtype !== 'f32' && inputDtype !== 'u32') throw new OnnxExportError(`exportOnnx: inputDtype '${String(inputDtype)}' must be 'f32' or 'u32'`);
  const int8Mode = options.int8 ?? 'qdq';
  if (int8Mode !== 'qdq' && int8Mode !== 'dequantize') throw new OnnxExportError(`exportOnnx: int8 '${String(int8Mode)}' must be 'qdq' or 'dequantize'`);

  const store = declarationStore(model);
  // A model placed in a trainer under a path (GanTrainer's 'G') keeps it; its checkpoint names are relative.
  const prefix = model.path ? `${model.path}.` : '';
  const { floats, int8 } = stateDictFor(store, prefix, options.weights, int8Mode);
  const b = new OnnxBuilder(opset, floats, int8, prefix);
  b.fresh(ONNX_INPUT);
  b.fresh(ONNX_OUTPUT);

  // Each layer is traced on its own at batch 1: its forward checks the input as compile would and
  // gives the output shape the next lowering needs. The batch dimension is never baked in.
  // Containers (Sequential here, Residual in the table) lower their children through lowerModule.
  const g = createGraph();
  const lowerModule = (m: Module, x: OnnxValue): OnnxValue => {
    if (isSequential(m)) return m.children().reduce((h, child) => lowerModule(child, h), x);
    const entry = ONNX_LOWERINGS.find((e) => e.layer === m.constructor);
    if (!entry) {
      const supported = ONNX_LOWERINGS.map((e) => e.layer.name).join(', ');
      throw new OnnxExportError(
        `exportOnnx: layer ${m.describe()} at '${m.path || '(root)'}' (class ${m.constructor.name}) has no ONNX lowering; ` +
          `the exportable layers are Sequential, ${supported}; add an entry to ONNX_LOWERINGS (src/export/onnx_layers.ts) for it`,
      );
    }
    const traced = m.apply(g, g.input(`input of ${m.path}`, x.shape, x.dtype), { store, training: false });
    return { name: entry.lower(m, x, b, lowerModule), shape: traced.shape, dtype: traced.dtype };
  };
  const x = lowerModule(model, { name: ONNX_INPUT, shape: [1, ...inputShape], dtype: inputDtype });
  if (x.name === ONNX_INPUT) b.nodes.push({ opType: 'Identity', inputs: [ONNX_INPUT], outputs: [ONNX_OUTPUT], name: ONNX_OUTPUT, attributes: {} });
  else b.renameOutput(x.name, ONNX_OUTPUT);

  const batched = (shape: readonly number[]) => ['N', ...shape.slice(1)];
  return encodeOnnxModel({
    // The oldest IR version each opset may be stored with, so older runtimes read the file.
    irVersion: opset <= 18 ? 8 : opset <= 20 ? 9 : 10,
    opset,
    producerName: 'webgpu-dl',
    producerVersion: '0.1.0',
    metadata: { ...options.metadata },
    graph: {
      name: 'webgpu-dl',
      nodes: b.nodes,
      initializers: b.initializers,
      inputs: [{ name: ONNX_INPUT, elemType: inputDtype === 'u32' ? ONNX_INT64 : ONNX_FLOAT, shape: batched([1, ...inputShape]) }],
      outputs: [{ name: ONNX_OUTPUT, elemType: ONNX_FLOAT, shape: batched(x.shape) }],
    },
  });
}

/** Sequential itself, not a subclass (which may run its children differently). */
function isSequential(m: Module): m is Sequential {
  const container: unknown = m.constructor;
  return container === Sequential;
}

/**
 * A store in which `model` declares (and so names) its parameters and buffers, at the path it
 * already has, so that the paths a trainer gave its layers stay as they were. Nothing is ever
 * allocated in it, so it needs no engine: the exporter only reads its names and shapes, and the
 * layers' forward passes only make graph values from it.
 */
function declarationStore(model: Module): ParameterStore {
  const store = new ParameterStore(undefined as unknown as Engine);
  model.register(store, model.path);
  return store;
}

/** The weights, checked against the model's state dict (names, shapes, finite values, int8 scales). */
function stateDictFor(
  store: ParameterStore,
  prefix: string,
  weights: OnnxExportOptions['weights'],
  mode: Int8Export,
): { floats: Map<string, NamedTensor>; int8: Map<string, Int8Tensor> } {
  let floats: Map<string, NamedTensor>;
  let int8: Map<string, Int8Tensor>;
  if (weights instanceof Uint8Array) {
    ({ tensors: floats, int8 } = decodeSafetensors(weights, { source: 'exportOnnx weights', requireFinite: true }));
  } else if (weights && typeof weights !== 'string' && typeof (weights as Iterable<unknown>)[Symbol.iterator] === 'function') {
    const all: unknown[] = [...weights];
    const bad = all.findIndex((t) => !isTensor(t));
    if (bad >= 0) throw new OnnxExportError(`exportOnnx: weights[${bad}] is not a tensor { name, shape, data: Float32Array | Int8Array }`);
    const tensors = all as (NamedTensor | Int8Tensor)[];
    floats = new Map(tensors.filter((t): t is NamedTensor => t.data instanceof Float32Array).map((t) => [t.name, t]));
    int8 = new Map(tensors.filter((t): t is Int8Tensor => t.data instanceof Int8Array).map((t) => [t.name, t]));
    checkFinite([...floats.values()], 'exportOnnx weights');
  } else {
    throw new OnnxExportError('exportOnnx: weights must be safetensors bytes (a Uint8Array: read the file first) or an iterable of named tensors');
  }
  const dequantised = dequantizeStateDict([...floats.values(), ...int8.values()]);
  checkCheckpoint(new Map(store.stateDict.map((p) => [p.name.slice(prefix.length), p.shape])), new Map(dequantised.map((t) => [t.name, t])));
  if (mode === 'dequantize') return { floats: new Map(dequantised.map((t) => [t.name, t])), int8: new Map() };
  return { floats, int8 };
}

function isTensor(t: unknown): t is NamedTensor | Int8Tensor {
  const o = t as Partial<NamedTensor | Int8Tensor> | null;
  return typeof o === 'object' && o !== null && typeof o.name === 'string' && Array.isArray(o.shape) && (o.data instanceof Float32Array || o.data instanceof Int8Array);
}
