import { describe, expect, it } from 'vitest';
import { quantizeStateDict } from '../../src/compress/quantize.js';
import { OnnxExportError } from '../../src/export/errors.js';
import { exportOnnx } from '../../src/export/onnx.js';
import { ShapeError } from '../../src/gpu/errors.js';
import type { Graph, Value } from '../../src/graph/ir.js';
import { ParameterStore } from '../../src/graph/params.js';
import { Linear, ReLU, Sequential } from '../../src/nn/layers.js';
import { Module } from '../../src/nn/module.js';
import { mnistMlp } from '../../src/models/mnist.js';
import { CheckpointError, encodeSafetensors, type Int8Tensor, type NamedTensor } from '../../src/train/safetensors.js';
import { uniform } from '../helpers/random.js';
import * as api from '../../src/index.js';
import { ONNX_LOWERINGS } from '../../src/export/onnx_layers.js';

/** A state dict for `model` with small random values, built without a GPU. */
function stateDict(model: Module): NamedTensor[] {
  const store = new ParameterStore(undefined as never);
  model.register(store);
  return store.stateDict.map((p, i) => ({ name: p.name, shape: p.shape, data: uniform(p.size, i + 1, -0.1, 0.1) }));
}

/** Doubles its input: a layer the exporter has never heard of. */
class Double extends Module {
  describe(): string {
    return 'Double';
  }

  forward(g: Graph, x: Value): Value {
    return g.apply('scale', [x], { scale: 2, shift: 0 })[0];
  }
}

const small = () => new Sequential(new Linear(4, 3), ReLU(), new Linear(3, 2));

describe('every layer exports', () => {
  it('has an ONNX lowering for each Module subclass the library exports (Sequential is opened by the exporter)', () => {
    const layers = Object.entries(api).filter(([, v]) => typeof v === 'function' && v.prototype instanceof Module && v !== Sequential);
    expect(layers.length).toBeGreaterThanOrEqual(15);
    const lowered = new Set<unknown>(ONNX_LOWERINGS.map((e) => e.layer));
    expect(layers.filter(([, v]) => !lowered.has(v)).map(([name]) => name)).toEqual([]);
  });
});

describe('exportOnnx on a model a trainer placed under a path', () => {
  it("exports a GanTrainer's generator (at 'G') from its checkpoint's relative names, leaving the layers' paths as they were", () => {
    const model = small();
    const weights = stateDict(model);
    model.register(new ParameterStore(undefined as never), 'G');
    const paths = () => [model.path, ...model.children().map((c) => c.path)];
    expect(paths()).toEqual(['G', 'G.0', 'G.1', 'G.2']);
    expect(exportOnnx(model, { inputShape: [4], weights }).byteLength).toBeGreaterThan(0);
    expect(paths()).toEqual(['G', 'G.0', 'G.1', 'G.2']);
  });
});

describe('exportOnnx refuses what it cannot export, before writing anything', () => {
  it('a layer without an ONNX lowering, naming the layer, its path and the fix', () => {
    const model = new Sequential(new Linear(4, 3), new Double());
    expect(() => exportOnnx(model, { inputShape: [4], weights: stateDict(model) })).toThrowError(OnnxExportError);
    expect(() => exportOnnx(model, { inputShape: [4], weights: stateDict(model) })).toThrowError(/layer Double at '1' \(class Double\) has no ONNX lowering.*ONNX_LOWERINGS/);
  });

  it('an opset out of range or not an integer', () => {
    const model = small();
    const weights = stateDict(model);
    for (const opset of [12, 22, 17.5, NaN]) {
      expect(() => exportOnnx(model, { inputShape: [4], weights, opset })).toThrowError(new RegExp(`opset ${opset} is not supported; use an integer from 13 to 21`));
    }
    expect(exportOnnx(model, { inputShape: [4], weights, opset: 13 }).byteLength).toBeGreaterThan(0);
  });

  it('an input shape that is not one sample’s shape', () => {
    const model = small();
    const weights = stateDict(model);
    for (const inputShape of [[], [0], [2.5], [-4]]) {
      expect(() => exportOnnx(model, { inputShape, weights })).toThrowError(OnnxExportError);
    }
    expect(() => exportOnnx(model, { inputShape: [4], weights, int8: 'fp16' as never })).toThrowError(/int8 'fp16' must be 'qdq' or 'dequantize'/);
  });

  it("an input the model's first layer does not take: the layer's own ShapeError", () => {
    const model = mnistMlp();
    expect(() => exportOnnx(model, { inputShape: [100], weights: stateDict(model) })).toThrowError(ShapeError);
    expect(() => exportOnnx(model, { inputShape: [100], weights: stateDict(model) })).toThrowError(/Linear\(784→256\) got input \[1, 100\]/);
  });

  it('weights that do not match the model: missing, misshapen, extra, non-finite, int8 without scales', () => {
    const model = small();
    const good = stateDict(model);
    const cases: [(NamedTensor | Int8Tensor)[] | Uint8Array, RegExp][] = [
      [good.slice(1), /missing '0\.weight' \[3, 4\]/],
      [good.map((t) => (t.name === '2.bias' ? { ...t, shape: [1, 2] } : t)), /'2\.bias': checkpoint has \[1, 2\], model needs \[2\]/],
      [[...good, { name: 'extra', shape: [1], data: Float32Array.of(1) }], /unexpected 'extra'/],
      [encodeSafetensors(good.map((t) => (t.name === '0.bias' ? { ...t, data: Float32Array.of(0, NaN, 0) } : t))), /'0\.bias'.*NaN/],
      [quantizeStateDict(good).tensors.filter((t) => t.name !== '0.weight_scale'), /int8 '0\.weight' \[3, 4\] needs F32 '0\.weight_scale'/],
    ];
    for (const [weights, message] of cases) {
      expect(() => exportOnnx(model, { inputShape: [4], weights })).toThrowError(CheckpointError);
      expect(() => exportOnnx(model, { inputShape: [4], weights })).toThrowError(message);
    }
    expect(() => exportOnnx(model, { inputShape: [4], weights: 'weights.safetensors' as never })).toThrowError(/weights must be safetensors bytes \(a Uint8Array: read the file first\)/);
    expect(() => exportOnnx(model, { inputShape: [4], weights: [...good.slice(1), null] as never })).toThrowError(/weights\[3\] is not a tensor/);
  });
});
