import { describe, expect, it } from 'vitest';
import { textCorpus, unigramEntropy } from '../../src/data/text.js';
import { charTransformer } from '../../src/models/transformer.js';
import { AdamW } from '../../src/optim/optimizers.js';
import { TextTrainer } from '../../src/train/text_trainer.js';
import { nanoGptLearningRate } from '../../src/cli/transformer.js';
import { useEngine } from '../helpers/engine.js';

const engine = useEngine();

const WORDS = (
  'the of and to in is was he for it with as his on be at by had are but from or have an they which one you were her all she there would their we him been has when who will more no if out so said what up its about into than them can only other new some could time these two may then do first any my now such like our over man me even most made after also did many before must through back years where much your way well down should because each just those people how too little state good very make world still own see men work long get here between both life being under never day same another know while last might us great old year off come since against go came right used take three'
).split(' ');

/**
 * English-like text the test writes (no download): sentences of common English words drawn from a
 * seeded stream. Characters within a word follow from the first few, which a model only learns by
 * attending back over the word; character frequencies alone cannot predict them.
 */
function sentences(chars: number, seed: number): Uint8Array {
  let state = seed;
  const next = (n: number) => {
    state = (state * 1103515245 + 12345) >>> 0;
    return (state >>> 8) % n;
  };
  let text = '';
  while (text.length < chars) {
    const words = Array.from({ length: 4 + next(6) }, () => WORDS[next(WORDS.length)]);
    words[0] = words[0][0].toUpperCase() + words[0].slice(1);
    text += `${words.join(' ')}.${next(4) === 0 ? '\n' : ' '}`;
  }
  return new TextEncoder().encode(text.slice(0, chars));
}

describe('a character transformer learns real text', () => {
  it('brings the validation loss at least 25% below the text\'s unigram entropy', async () => {
    const corpus = textCorpus(sentences(30_000, 7), { context: 16, source: 'sentences' });
    const validation = corpus.tokens.subarray(corpus.trainTokens);
    const entropy = unigramEntropy(validation, corpus.vocab.length);
    const model = charTransformer({ vocab: corpus.vocab.length, context: 16, layers: 1, heads: 2, dim: 32 });
    const steps = 250;
    using trainer = await TextTrainer.create(engine(), { model, corpus, optimizer: new AdamW({ lr: 1e-2, beta2: 0.99, weightDecay: 0.1 }), batch: 16, seed: 3, clipNorm: 1 });
    const before = await trainer.evaluate();
    const t0 = performance.now();
    for (let s = 0; s < steps; s++) trainer.trainStep(nanoGptLearningRate(s, { lr: 1e-2, min: 1e-3, warmup: 30, steps }));
    const after = await trainer.evaluate();
    console.log(`text training: unigram entropy ${entropy.toFixed(3)} nats; val loss ${before.valLoss.toFixed(3)} → ${after.valLoss.toFixed(3)} (train ${after.trainLoss.toFixed(3)}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    expect(before.valLoss).toBeGreaterThan(entropy);
    expect(after.valLoss).toBeLessThan(0.75 * entropy);
  }, 300_000);
});
