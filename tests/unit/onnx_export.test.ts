import { describe, expect, it } from 'vitest';
import { dequantizeStateDict, encodeQuantizedSafetensors, quantizeStateDict } from '../../src/compress/quantize.js';
import { exportOnnx } from '../../src/export/onnx.js';
import { AvgPool2d, Conv2d, ConvTranspose2d, MaxPool2d } from '../../src/nn/conv.js';
import { Dropout } from '../../src/nn/dropout.js';
import { AdaptiveAvgPool2d, Flatten, GELU, LeakyReLU, Linear, ReLU, Residual, Sequential, Sigmoid, Softmax, Tanh } from '../../src/nn/layers.js';
import type { Module } from '../../src/nn/module.js';
import { BatchNorm1d, BatchNorm2d, LayerNorm } from '../../src/nn/normalization.js';
import { CausalSelfAttention } from '../../src/nn/attention.js';
import { Embedding } from '../../src/nn/embedding.js';
import { mlpGenerator } from '../../src/models/gan.js';
import { mnistCnn, mnistMlp } from '../../src/models/mnist.js';
import { charTransformer } from '../../src/models/transformer.js';
import { resnet } from '../../src/models/resnet.js';
import { useEngine } from '../helpers/engine.js';
import { engineForward, maxAbsDiff, onnxForward, randomWeights } from '../helpers/onnx.js';
import { integers, uniform } from '../helpers/random.js';

const engine = useEngine();

/** Exports `model` with random weights and compares ONNX Runtime with the engine at batch 1 and 5 (one file, dynamic batch). */
async function checkFamily(model: Module, inputShape: readonly number[], outputShape: readonly number[], opset?: number, tokens?: number): Promise<number> {
  const { store, bytes } = randomWeights(engine(), model, 7);
  try {
    const onnx = exportOnnx(model, { inputShape, weights: bytes, opset, inputDtype: tokens ? 'u32' : 'f32' });
    let worst = 0;
    for (const batch of [1, 5]) {
      const size = batch * inputShape.reduce((a, b) => a * b, 1);
      const x = tokens ? integers(size, tokens, 100 + batch) : uniform(size, 100 + batch, -1, 1);
      const expected = await engineForward(engine(), model, store, inputShape, batch, x);
      const got = await onnxForward(onnx, inputShape, batch, x);
      expect(got.dims).toEqual([batch, ...outputShape]);
      const err = maxAbsDiff(got.data, expected);
      expect(err, `batch ${batch}`).toBeLessThanOrEqual(1e-4);
      // A model whose output does not depend on the input would pass the comparison trivially.
      expect(Math.max(...expected.map(Math.abs))).toBeGreaterThan(1e-3);
      worst = Math.max(worst, err);
    }
    return worst;
  } finally {
    store.dispose();
  }
}

/** Every exportable layer once: BatchNorm 1-d and 2-d, convolutions with stride/padding/dilation, both poolings, each activation. */
function zoo(): Sequential {
  return new Sequential(
    new Conv2d(2, 4, 3, { padding: 1, stride: [1, 2], dilation: [2, 1] }),
    new BatchNorm2d(4),
    ReLU(),
    new ConvTranspose2d(4, 3, [3, 2], { stride: 2, padding: [1, 0], outputPadding: [1, 0], dilation: 1 }),
    LeakyReLU(0.2),
    new MaxPool2d(3, { stride: 2, padding: 1 }),
    new Conv2d(3, 5, 2, { bias: false }),
    new BatchNorm2d(5, { affine: false, eps: 1e-3 }),
    Tanh(),
    new AvgPool2d(2, { stride: 1, padding: 1 }),
    new Dropout(0.5),
    new Flatten(),
    new Linear(5 * 7 * 4, 12),
    new BatchNorm1d(12),
    GELU(),
    new Linear(12, 9, { bias: false }),
    LeakyReLU(-0.3),
    new Linear(9, 7),
    Sigmoid(),
    new Linear(7, 8),
    new Softmax(),
    new Linear(8, 6),
  );
}

describe('exportOnnx: ONNX Runtime reproduces the engine', () => {
  it('the MNIST MLP (784-256-256-10), as Gemm nodes', async () => {
    const err = await checkFamily(mnistMlp(), [784], [10]);
    console.log(`onnx export MLP: max abs error ${err.toExponential(2)}`);
  });

  it('the MNIST CNN on [1, 28, 28]', async () => {
    const err = await checkFamily(mnistCnn(), [1, 28, 28], [10]);
    console.log(`onnx export CNN: max abs error ${err.toExponential(2)}`);
  });

  it("the GAN's generator (z 100 → 784, LeakyReLU 0.2, tanh)", async () => {
    const err = await checkFamily(mlpGenerator(), [100], [784]);
    console.log(`onnx export GAN generator: max abs error ${err.toExponential(2)}`);
  });

  it('a model with every exportable layer, GELU as an Erf composition (opset 13, 17) and as Gelu (opset 20, 21)', async () => {
    for (const opset of [13, 17, 20, 21]) {
      const err = await checkFamily(zoo(), [2, 9, 8], [6], opset);
      console.log(`onnx export zoo, opset ${opset}: max abs error ${err.toExponential(2)}`);
    }
  });
});

describe('exportOnnx: residual blocks', () => {
  it('a residual conv block with global average pooling', async () => {
    const model = new Sequential(
      new Conv2d(1, 4, 3, { padding: 1 }),
      new Residual(new Sequential(new Conv2d(4, 4, 3, { padding: 1 }), new BatchNorm2d(4), ReLU())),
      new AdaptiveAvgPool2d(1),
      new Flatten(),
      new Linear(4, 3),
    );
    const err = await checkFamily(model, [1, 7, 6], [3]);
    console.log(`onnx export residual CNN: max abs error ${err.toExponential(2)}`);
  });
});

describe('exportOnnx: the CIFAR ResNet', () => {
  it('resnet({ depth: 8 }) with stride-2 stages and zero-padded shortcuts', async () => {
    const err = await checkFamily(resnet({ depth: 8, width: 4, classes: 5, channels: 3 }), [3, 8, 8], [5]);
    console.log(`onnx export ResNet-8: max abs error ${err.toExponential(2)}`);
  });
});

describe('exportOnnx: sequence layers', () => {
  it('LayerNorm, causal self-attention (2 heads) and rank-3 Linear on [T, dim], LayerNorm composed before opset 17', async () => {
    const model = () => new Sequential(new LayerNorm(8, { eps: 1e-4 }), new CausalSelfAttention(8, 2), GELU(), new Linear(8, 4), new LayerNorm(4));
    for (const opset of [13, 17]) {
      const err = await checkFamily(model(), [6, 8], [6, 4], opset);
      console.log(`onnx export attention block, opset ${opset}: max abs error ${err.toExponential(2)}`);
    }
  });

  it('a character transformer: token ids (int64 in ONNX) → Embedding → pre-norm attention and MLP blocks with residuals → logits', async () => {
    const block = () => [
      new Residual(new Sequential(new LayerNorm(8), new CausalSelfAttention(8, 4))),
      new Residual(new Sequential(new LayerNorm(8), new Linear(8, 16), GELU(), new Linear(16, 8))),
    ];
    const model = new Sequential(new Embedding(11, 8), ...block(), ...block(), new LayerNorm(8), new Linear(8, 11));
    const err = await checkFamily(model, [5], [5, 11], 17, 11);
    console.log(`onnx export transformer: max abs error ${err.toExponential(2)}`);
  });
});

describe('exportOnnx: the character transformer', () => {
  it('charTransformer (token and position embeddings, two blocks, dropout configured) gives ONNX Runtime the engine’s logits', async () => {
    const model = charTransformer({ vocab: 13, context: 6, layers: 2, heads: 2, dim: 8, dropout: 0.1 });
    const err = await checkFamily(model, [6], [6, 13], 17, 13);
    console.log(`onnx export charTransformer: max abs error ${err.toExponential(2)}`);
  });
});

describe('exportOnnx: int8 checkpoints', () => {
  it('export as int8 with DequantizeLinear (qdq) or as f32 (dequantize), both equal to the engine running the dequantised weights', async () => {
    // The MLP, and the zoo for int8 conv and transposed-conv weights (scaled along their first axis).
    for (const [model, inputShape, opset] of [[mnistMlp([64, 32]), [784], 17], [zoo(), [2, 9, 8], 13]] as const) {
      const { store, tensors } = randomWeights(engine(), model, 3);
      try {
        const q = quantizeStateDict(tensors);
        expect(q.report.tensors.length).toBeGreaterThanOrEqual(3);
        const quantized = encodeQuantizedSafetensors(q);
        const batch = 5;
        const x = uniform(batch * inputShape.reduce((a, b) => a * b, 1), 11, 0, 1);
        const original = await engineForward(engine(), model, store, inputShape, batch, x);
        for (const t of dequantizeStateDict(q.tensors)) store.write(t.name, t.data);
        const expected = await engineForward(engine(), model, store, inputShape, batch, x);
        const qdq = exportOnnx(model, { inputShape, weights: quantized, opset });
        const f32 = exportOnnx(model, { inputShape, weights: quantized, int8: 'dequantize', opset });
        for (const [name, onnx] of [['qdq', qdq], ['dequantize', f32]] as const) {
          const got = await onnxForward(onnx, inputShape, batch, x);
          const err = maxAbsDiff(got.data, expected);
          expect(err, name).toBeLessThanOrEqual(1e-5);
          // The int8 rounding is really in the exported weights: far closer to the dequantised model than to the f32 one.
          expect(maxAbsDiff(got.data, original), name).toBeGreaterThan(10 * err);
        }
        // The weights stay one byte each in the qdq file.
        if (inputShape.length === 1) expect(qdq.byteLength).toBeLessThan(0.3 * f32.byteLength);
      } finally {
        store.dispose();
      }
    }
  });
});
