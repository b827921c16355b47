import { describe, expect, it } from 'vitest';
import { textCorpus } from '../../src/data/text.js';
import { charTransformer } from '../../src/models/transformer.js';
import { AdamW } from '../../src/optim/optimizers.js';
import { TextTrainer } from '../../src/train/text_trainer.js';
import { useEngine } from '../helpers/engine.js';

const engine = useEngine();

describe('TextTrainer.profile', () => {
  it('times every kernel of a real training step, attention forward and backward among them, and counts the step', async () => {
    const corpus = textCorpus(new TextEncoder().encode('the cat sat on the mat. a dog ate the hat. '.repeat(20)), { context: 8, source: 'text' });
    const model = charTransformer({ vocab: corpus.vocab.length, context: 8, layers: 1, heads: 2, dim: 8 });
    using trainer = await TextTrainer.create(engine(), { model, corpus, optimizer: new AdamW({ lr: 1e-3 }), batch: 3, seed: 1, evalWindows: 4 });
    const before = await trainer.store.read('lm_head.weight');
    const timings = await trainer.profile(1e-3);
    const names = timings.map((t) => t.name);
    for (const kernel of ['embedding', 'layer_norm', 'causal_attention', 'causal_attention_backward_dq', 'causal_attention_backward_dkv', 'softmax_cross_entropy_batch']) {
      expect(names).toContain(kernel);
    }
    expect(names.some((n) => n.startsWith('adamw'))).toBe(true);
    expect(timings.every((t) => Number.isFinite(t.ms) && t.ms >= 0)).toBe(true);
    expect(trainer.progress).toEqual({ steps: 1, runs: 1, updates: 1 });
    expect(await trainer.store.read('lm_head.weight')).not.toEqual(before);
  });
});
