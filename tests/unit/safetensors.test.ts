import { describe, expect, it } from 'vitest';
import { checkCheckpoint, decodeSafetensors, encodeSafetensors } from '../../src/train/safetensors.js';

describe('safetensors', () => {
  it('round-trips tensors and metadata with an 8-byte aligned header', () => {
    const tensors = [
      { name: 'fc1.weight', shape: [3, 2], data: Float32Array.of(1, 2, 3, 4, 5, 6) },
      { name: 'fc1.bias', shape: [3], data: Float32Array.of(-1, 0.5, 1e-30) },
    ];
    const bytes = encodeSafetensors(tensors, { format: 'pt' });
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + headerLength) % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
    expect(header['fc1.weight']).toEqual({ dtype: 'F32', shape: [3, 2], data_offsets: [0, 24] });
    const { tensors: back, metadata } = decodeSafetensors(bytes);
    expect(metadata).toEqual({ format: 'pt' });
    expect([...back.get('fc1.bias')!.data]).toEqual([...tensors[1].data]);
    expect(back.get('fc1.weight')!.shape).toEqual([3, 2]);
  });

  it('reads I64 counters as PyTorch writes num_batches_tracked', () => {
    const header = JSON.stringify({ 'bn.num_batches_tracked': { dtype: 'I64', shape: [], data_offsets: [0, 8] } });
    const bytes = new Uint8Array(8 + header.length + 8);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
    bytes.set(new TextEncoder().encode(header), 8);
    new DataView(bytes.buffer).setBigInt64(8 + header.length, 1234n, true);
    const t = decodeSafetensors(bytes).tensors.get('bn.num_batches_tracked')!;
    expect([t.shape, [...t.data]]).toEqual([[], [1234]]);
  });

  it('lists every mismatch between a checkpoint and a model', () => {
    const found = decodeSafetensors(
      encodeSafetensors([
        { name: 'a', shape: [2], data: new Float32Array(2) },
        { name: 'extra', shape: [1], data: new Float32Array(1) },
      ]),
    ).tensors;
    const expected = new Map([
      ['a', [3]],
      ['b', [1]],
    ]);
    expect(() => checkCheckpoint(expected, found)).toThrow(
      /'a': checkpoint has \[2\], model needs \[3\]\n {2}missing 'b' \[1\]\n {2}unexpected 'extra'/,
    );
  });

  it('rejects files that are not safetensors', () => {
    expect(() => decodeSafetensors(Uint8Array.of(1, 2))).toThrow(/too short/);
    const bogus = new Uint8Array(16);
    new DataView(bogus.buffer).setBigUint64(0, 1000n, true);
    expect(() => decodeSafetensors(bogus)).toThrow(/header length exceeds the file/);
  });
});
