import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/gpu/errors.js';
import { gradients } from '../../src/graph/autodiff.js';
import { createGraph } from '../../src/graph/graph.js';
import type { Value } from '../../src/graph/ir.js';
import { ParameterStore } from '../../src/graph/params.js';
import { charTransformer } from '../../src/models/transformer.js';
import { crossEntropy } from '../../src/nn/cross_entropy.js';
import { transformerFromMetadata, transformerMetadata } from '../../src/train/text_checkpoint.js';
import { CheckpointError } from '../../src/train/safetensors.js';
import { expectClose, numericGradient } from '../helpers/compare.js';
import { useEngine } from '../helpers/engine.js';
import { integers, uniform } from '../helpers/random.js';
import { runGraphOnGpu } from '../helpers/run_graph.js';
import { evaluate } from '../reference/graph.js';

const engine = useEngine();
const f64 = (a: ArrayLike<number>) => Float64Array.from(a);

/** The whole model's loss graph at a tiny size, with every parameter's gradient. */
function lossGraph(config: Parameters<typeof charTransformer>[0], batch: number) {
  const model = charTransformer(config);
  const store = new ParameterStore(engine(), { seed: 5 });
  model.register(store);
  const g = createGraph();
  const x = g.input('x', [batch, config.context], 'u32');
  const y = g.input('y', [batch, config.context], 'u32');
  const { loss } = crossEntropy(g, model.apply(g, x, { store, training: true }), y);
  const end = g.nodes.length;
  const params = [...g.params];
  const grads = gradients(g, loss, params);
  return { model, store, g, x, y, loss, end, params, grads };
}

describe('charTransformer', () => {
  it('names its parameters as nanoGPT does (qkv/proj, fc/proj), in PyTorch layouts', () => {
    const model = charTransformer({ vocab: 11, context: 6, layers: 2, heads: 2, dim: 8 });
    const store = new ParameterStore(engine(), { seed: 1 });
    model.register(store);
    const shapes = Object.fromEntries(store.stateDict.map((p) => [p.name, p.shape.join('x')]));
    const block = (i: number) => ({
      [`transformer.h.${i}.ln_1.weight`]: '8', [`transformer.h.${i}.ln_1.bias`]: '8',
      [`transformer.h.${i}.attn.qkv.weight`]: '24x8', [`transformer.h.${i}.attn.qkv.bias`]: '24',
      [`transformer.h.${i}.attn.proj.weight`]: '8x8', [`transformer.h.${i}.attn.proj.bias`]: '8',
      [`transformer.h.${i}.ln_2.weight`]: '8', [`transformer.h.${i}.ln_2.bias`]: '8',
      [`transformer.h.${i}.mlp.fc.weight`]: '32x8', [`transformer.h.${i}.mlp.fc.bias`]: '32',
      [`transformer.h.${i}.mlp.proj.weight`]: '8x32', [`transformer.h.${i}.mlp.proj.bias`]: '8',
    });
    expect(shapes).toEqual({
      'transformer.wte.weight': '11x8', 'transformer.wpe.weight': '6x8', ...block(0), ...block(1),
      'transformer.ln_f.weight': '8', 'transformer.ln_f.bias': '8', 'lm_head.weight': '11x8',
    });
    store.dispose();
  });

  it('float64: the gradient of every parameter matches finite differences over the whole graph', () => {
    // Two blocks of two heads on 4 features, over 7 tokens: every kind of parameter, each element.
    const t = lossGraph({ vocab: 7, context: 5, layers: 2, heads: 2, dim: 4 }, 2);
    const feeds = new Map<Value, Float64Array>([[t.x, f64(integers(10, 7, 1))], [t.y, f64(integers(10, 7, 2))]]);
    t.params.forEach((p, i) => feeds.set(p, f64(uniform(p.size, 40 + i, -0.8, 0.8))));
    const analytic = evaluate(t.g, feeds);
    let checked = 0;
    for (const p of t.params) {
      const numeric = numericGradient((v) => evaluate(t.g, new Map(feeds).set(p, v), t.end).get(t.loss)![0], feeds.get(p)!);
      expectClose(analytic.get(t.grads.get(p)!)!, numeric, { atol: 1e-8, rtol: 1e-5 }, p.name);
      expect(numeric.some((v) => Math.abs(v) > 1e-6), `${p.name} has a gradient`).toBe(true);
      checked++;
    }
    expect(checked).toBe(2 + 2 * 12 + 2 + 1);
    t.store.dispose();
  });

  it('on the GPU: the loss and every gradient match the float64 graph (3 heads of 8, context 13, vocab 29)', async () => {
    const t = lossGraph({ vocab: 29, context: 13, layers: 2, heads: 3, dim: 24 }, 3);
    const data = new Map<Value, Float32Array | Uint32Array>([[t.x, integers(39, 29, 3)], [t.y, integers(39, 29, 4)]]);
    t.params.forEach((p, i) => data.set(p, uniform(p.size, 60 + i, -0.5, 0.5)));
    const wanted = [t.loss, ...t.params.map((p) => t.grads.get(p)!)];
    const got = await runGraphOnGpu(engine(), t.g, data, wanted, true);
    const want = evaluate(t.g, new Map([...data].map(([v, d]) => [v, f64(d)])));
    expectClose(got.get(t.loss)!, want.get(t.loss)!, { atol: 1e-6, rtol: 1e-5 }, 'loss');
    for (const p of t.params) expectClose(got.get(t.grads.get(p)!)!, want.get(t.grads.get(p)!)!, { atol: 2e-5, rtol: 1e-3 }, `d${p.name}`);
    t.store.dispose();
  });

  it('refuses bad configurations and windows of another length, naming the field and the fix', () => {
    expect(() => charTransformer({ vocab: 10, context: 8, layers: 1, heads: 3, dim: 8 })).toThrow(/dim 8 must be a multiple of heads 3/);
    expect(() => charTransformer({ vocab: 0, context: 8, layers: 1, heads: 1, dim: 8 })).toThrow(ShapeError);
    expect(() => charTransformer({ vocab: 10, context: 8, layers: 1.5, heads: 1, dim: 8 })).toThrow(/layers 1.5 must be a positive integer/);
    expect(() => charTransformer({ vocab: 10, context: 8, layers: 1, heads: 1, dim: 8, dropout: 1 })).toThrow(/dropout 1 must lie in \[0, 1\)/);
    const model = charTransformer({ vocab: 10, context: 8, layers: 1, heads: 1, dim: 8 });
    const store = new ParameterStore(engine(), { seed: 1 });
    model.register(store);
    const g = createGraph();
    expect(() => model.apply(g, g.input('x', [2, 5], 'u32'), { store, training: false })).toThrow(/got tokens \[2, 5\]: expected \[batch, 8\]/);
    expect(() => model.apply(g, g.input('z', [2, 8]), { store, training: false })).toThrow(/expected u32 indices/);
    store.dispose();
  });

  it('gives each dropout its own mask stream (embeddings, and after attention and the MLP in every block), none in evaluation', () => {
    const model = charTransformer({ vocab: 7, context: 4, layers: 2, heads: 1, dim: 4, dropout: 0.2 });
    const store = new ParameterStore(engine(), { seed: 3 });
    model.register(store);
    const seeds = (training: boolean) => {
      const g = createGraph();
      model.apply(g, g.input('x', [2, 4], 'u32'), { store, training });
      return g.nodes.filter((n) => n.op === 'dropout').map((n) => (n.attrs as { seed: number }).seed);
    };
    expect(new Set(seeds(true)).size).toBe(5);
    expect(seeds(false)).toEqual([]);
    store.dispose();
  });

  it('checkpoint metadata rebuilds the model and its vocabulary, and refuses what does not describe one', () => {
    const vocab = ['\n', ' ', 'a', 'é', '😀'];
    const config = { vocab: 5, context: 4, layers: 1, heads: 2, dim: 6, dropout: 0 };
    const file = transformerFromMetadata(transformerMetadata(config, vocab));
    expect(file.config).toEqual(config);
    expect(file.vocab).toEqual(vocab);
    expect(file.model.describe()).toBe('CharTransformer(vocab=5, context=4, layers=1, heads=2, dim=6)');
    expect(() => transformerFromMetadata({ format: 'pt' }, 'w.safetensors')).toThrow(/w.safetensors: not a character transformer checkpoint/);
    expect(() => transformerFromMetadata({ ...transformerMetadata(config, vocab), vocab: '["a","a","b","c","d"]' })).toThrow(/distinct single characters/);
    expect(() => transformerFromMetadata(transformerMetadata(config, vocab.slice(1)))).toThrow(/vocab 5, but the metadata lists 4/);
    expect(() => transformerFromMetadata({ ...transformerMetadata(config, vocab), transformer: '{"vocab":5}' })).toThrow(CheckpointError);
  });
});
