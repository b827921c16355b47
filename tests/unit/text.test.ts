import { describe, expect, it } from 'vitest';
import { DatasetError } from '../../src/data/idx.js';
import { decodeTokens, encodeText, evenlySpacedStarts, textCorpus, unigramEntropy, WindowSampler } from '../../src/data/text.js';
import { GpuText } from '../../src/data/text_windows.js';
import { useEngine } from '../helpers/engine.js';

const engine = useEngine();
const utf8 = (s: string) => new TextEncoder().encode(s);

describe('textCorpus', () => {
  it('takes the sorted code points as the vocabulary (astral characters whole) and splits 90/10', () => {
    const text = 'ba😀é\nab'.repeat(20); // 7 code points per repeat, 140 in all
    const c = textCorpus(utf8(text), { context: 4 });
    expect(c.vocab).toEqual(['\n', 'a', 'b', 'é', '😀']);
    expect(c.tokens.length).toBe(140);
    expect(c.trainTokens).toBe(126);
    expect(Array.from(c.tokens.subarray(0, 7))).toEqual([2, 1, 4, 3, 0, 1, 2]);
    expect(decodeTokens(c.tokens, c.vocab)).toBe(text);
  });

  it('encodes with a given vocabulary and names a character outside it', () => {
    expect(Array.from(encodeText('aba', ['a', 'b']))).toEqual([0, 1, 0]);
    expect(() => encodeText('abc', ['a', 'b'], '--prompt')).toThrow(/--prompt: character "c" \(U\+0063\) at position 2 is not in the model's vocabulary of 2/);
  });

  it('refuses an empty text, bytes that are not UTF-8 (naming where), and a text too short for a window in each split', () => {
    expect(() => textCorpus(new Uint8Array(0), { context: 8, source: 'e.txt' })).toThrow(/e.txt: the text is empty; give a UTF-8 text file of at least 81 characters/);
    const latin1 = utf8('hello world, this is fine until here: ');
    const bad = new Uint8Array([...latin1, 0xe9, 0x74, 0xe9]); // "été" in Latin-1
    expect(() => textCorpus(bad, { context: 2, source: 'l.txt' })).toThrow(new RegExp(`l.txt: the file is not UTF-8 text \\(invalid by byte offset ${latin1.length + 1}\\)`));
    let thrown: unknown;
    try {
      textCorpus(bad, { context: 2 });
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(DatasetError);
    expect(() => textCorpus(utf8('x'.repeat(80)), { context: 8, source: 's.txt' })).toThrow(
      /s.txt: the text has 80 characters, so its 10% validation split holds 8; a window needs context \+ 1 = 9 in each split: give a text of at least 81 characters, or a smaller context/,
    );
    expect(textCorpus(utf8('x'.repeat(81)), { context: 8 }).trainTokens).toBe(72);
  });

  it('spreads fixed windows evenly over a split, each inside it', () => {
    expect(Array.from(evenlySpacedStarts(100, 200, 9, 4))).toEqual([100, 130, 160, 190]);
    const s = evenlySpacedStarts(0, 1000, 64, 200);
    expect(s[0]).toBe(0);
    expect(s[199]).toBe(1000 - 65);
    expect(s.every((v, i) => i === 0 || v >= s[i - 1])).toBe(true);
    expect(() => evenlySpacedStarts(0, 10, 10, 3)).toThrow(/holds no window of 11 tokens/);
  });

  it('draws training window starts from the seed: reproducible, in range, and different per seed', () => {
    const a = new WindowSampler(1000, 1).next(new Uint32Array(500));
    expect(Array.from(new WindowSampler(1000, 1).next(new Uint32Array(500)))).toEqual(Array.from(a));
    expect(a.every((v) => v < 1000)).toBe(true);
    expect(new Set(a).size).toBeGreaterThan(350);
    expect(Array.from(new WindowSampler(1000, 2).next(new Uint32Array(500)))).not.toEqual(Array.from(a));
    // Seed 0x9e3779b9 would make xorshift's state 0, which never leaves 0.
    expect(new Set(new WindowSampler(1000, 0x9e3779b9).next(new Uint32Array(20))).size).toBeGreaterThan(1);
  });

  it('gives the unigram entropy in nats', () => {
    expect(unigramEntropy([0, 1, 0, 1], 2)).toBeCloseTo(Math.log(2), 12);
    expect(unigramEntropy([3, 3, 3], 4)).toBe(0);
  });
});

describe('GpuText', () => {
  it('gathers windows and their one-shifted targets on the GPU, from fixed starts at any offset and from starts set per batch', async () => {
    const e = engine();
    const text = Array.from({ length: 700 }, (_, i) => String.fromCodePoint(97 + ((i * 7 + (i >> 3)) % 23))).join('');
    const corpus = textCorpus(utf8(text), { context: 13 });
    using gpu = new GpuText(e, corpus);
    const [batch, T] = [5, 13];
    const x = { buffer: e.createStorage(batch * T * 4, 'x'), offset: 0, size: batch * T * 4 };
    const y = { buffer: e.createStorage(batch * T * 4, 'y'), offset: 0, size: batch * T * 4 };
    const read = async (r: typeof x) => new Uint32Array(await e.readBytes(r.buffer, r.size));
    const expected = (starts: ArrayLike<number>, shift: number) => Array.from(starts).flatMap((s) => Array.from(corpus.tokens.subarray(s + shift, s + shift + T)));
    const run = (encode: (encoder: GPUCommandEncoder) => void) => {
      const encoder = e.device.createCommandEncoder();
      encode(encoder);
      e.device.queue.submit([encoder.finish()]);
    };

    const fixed = Uint32Array.of(0, 3, 686, 100, 41, 7, 512, 300);
    const fixedGather = await gpu.gather(x, y, batch, fixed);
    run((encoder) => fixedGather.encode(encoder, 3));
    expect(Array.from(await read(x))).toEqual(expected(fixed.subarray(3, 8), 0));
    expect(Array.from(await read(y))).toEqual(expected(fixed.subarray(3, 8), 1));
    expect(() => fixedGather.encode(e.device.createCommandEncoder(), 4)).toThrow(/first 4 \+ batch 5 exceeds the 8 starts/);

    const random = await gpu.gather(x, y, batch, batch);
    for (const starts of [Uint32Array.of(9, 0, 600, 55, 686), Uint32Array.of(1, 2, 3, 4, 5)]) {
      random.setStarts(starts);
      run((encoder) => random.encode(encoder));
      expect(Array.from(await read(x))).toEqual(expected(starts, 0));
      expect(Array.from(await read(y))).toEqual(expected(starts, 1));
    }
    expect(() => random.setStarts(Uint32Array.of(0, 1, 2, 3, 687))).toThrow(/start 687 leaves no 14 tokens before the end \(700\)/);
    await expect(gpu.gather(x, y, batch, Uint32Array.of(0, 1, 2, 3, 687))).rejects.toThrow(/start 687 leaves no 14 tokens before the end \(700\)/);
    await expect(gpu.gather(x, y, 6, 6)).rejects.toThrow(/the inputs hold 65 values; 6 windows of 13 need 78/);
    random.dispose();
    fixedGather.dispose();
    e.buffers.destroy(x.buffer);
    e.buffers.destroy(y.buffer);
  });
});
